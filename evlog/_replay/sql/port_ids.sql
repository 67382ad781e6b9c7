-- The ports of a reliability report: every replayed EVSE, and (without a location filter,
-- $include_mapped) those known only from the station map; each with its location and station (the
-- mapped one, else its location), and the basis of its state: its own status, or its status and its
-- station's connectivity when a station is linked to it (docs/reliability.md, "Connectivity").
WITH ports AS (
    SELECT entity_id AS port_id, location_id
    FROM entities
    UNION ALL
    SELECT DISTINCT evse_id, NULL
    FROM station_map
    WHERE $include_mapped AND evse_id NOT IN (SELECT entity_id FROM entities)
)
SELECT
    p.port_id,
    p.location_id,
    coalesce(min(m.station_id), p.location_id) AS station_id,
    CASE WHEN count(m.station_id) > 0 THEN 'status+connectivity' ELSE 'status' END AS state_basis
FROM ports AS p
LEFT JOIN station_map AS m ON m.evse_id = p.port_id
GROUP BY p.port_id, p.location_id
