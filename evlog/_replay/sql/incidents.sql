-- Exclusion incidents: a port's exclusion rows (its own, its location's, its mapped stations') merged
-- per cause, overlapping or touching rows joining into one incident.
WITH targets AS (
    SELECT port_id, port_id AS entity_id FROM port_ids
    UNION
    SELECT port_id, location_id FROM port_ids WHERE location_id IS NOT NULL
    UNION
    SELECT m.evse_id, m.station_id
    FROM station_map AS m
    WHERE m.evse_id IN (SELECT port_id FROM port_ids)
),
exclusion_rows AS (
    SELECT DISTINCT
        t.port_id, x.cause, x.cause_rank, x.cap_kind, x.cap_us, x.start_us AS s, x.end_us AS e
    FROM exclusions AS x
    JOIN targets AS t USING (entity_id)
),
islands AS (
    {{islands FROM exclusion_rows BY port_id, cause}}
)
SELECT
    port_id,
    cause,
    any_value(cause_rank) AS cause_rank,
    any_value(cap_kind) AS cap_kind,
    any_value(cap_us) AS cap_us,
    min(s) AS s,
    max(e) AS e
FROM islands
GROUP BY port_id, cause, island
