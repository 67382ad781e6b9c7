-- The entities a row of a reliability file (exclusions, opening hours) may name for a port: the port
-- itself, its location, and the stations mapped to it (`--station-map`).
SELECT port_id, port_id AS entity_id FROM port_ids
UNION
SELECT port_id, location_id FROM port_ids WHERE location_id IS NOT NULL
UNION
SELECT m.evse_id, m.station_id
FROM station_map AS m
WHERE m.evse_id IN (SELECT port_id FROM port_ids)
