-- A port's closed time (`closed_hours` of every entity that names it, `port_targets`): closed when
-- any of them is closed; overlapping or touching pieces merge, so no minute counts twice.
WITH closed_rows AS (
    SELECT t.port_id, c.start_us AS s, c.end_us AS e
    FROM closed_hours AS c
    JOIN port_targets AS t USING (entity_id)
),
islands AS (
    {{islands FROM closed_rows BY port_id}}
)
SELECT port_id, min(s) AS s, max(e) AS e
FROM islands
GROUP BY port_id, island
