-- `evlog report metadata`: the latest metadata of every station and port before the window end, or
-- ($history) every run of values, firmware updates included. Ports are the eDRV connectors described
-- and every EVSE of the status feed (`entities`), which carries only its location: `location_id` is
-- the status feed's (the location EVSE reports show), else the eDRV station's `location`. With a
-- metadata filter ($metadata_filtered), only the entities it keeps (`metadata_kept`), so an EVSE
-- known only from the status feed is left out. $listed_kind ('', 'station' or 'port') narrows the kind.
WITH described AS (
    SELECT * FROM metadata_history WHERE $history
    UNION ALL
    SELECT * FROM metadata_latest WHERE NOT $history
),
listed AS (
    SELECT
        coalesce(d.entity_kind, 'port') AS entity_kind,
        coalesce(d.entity_id, e.entity_id) AS entity_id,
        d.station_id,
        coalesce(e.location_id, d.location_id) AS location_id,
        d.vendor,
        d.model,
        d.firmware,
        d.serial_number,
        d.protocol,
        d.connector_type,
        d.connector_format,
        d.power_kw,
        d.power_kw >= $rapid_kw AS rapid,
        d.power_type,
        d.first_seen,
        d.last_seen,
        coalesce(d.observations, 0) AS observations
    FROM described AS d
    FULL OUTER JOIN entities AS e ON d.entity_kind = 'port' AND d.entity_id = e.entity_id
)
SELECT *
FROM listed AS l
WHERE ($listed_kind = '' OR l.entity_kind = $listed_kind)
    AND (
        NOT $metadata_filtered
        OR EXISTS (
            SELECT 1
            FROM metadata_kept AS k
            WHERE k.entity_kind = l.entity_kind AND k.entity_id = l.entity_id
        )
    )
ORDER BY entity_kind, entity_id, first_seen NULLS FIRST
