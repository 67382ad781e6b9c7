-- `--station-map`: which station each port (EVSE) belongs to (may be empty).
-- (Lists join as subqueries: SQLGlot makes a bare `JOIN unnest(...)` a Spark LATERAL VIEW,
-- a cross product that loses `USING (position)`.)
SELECT s.station_id, e.evse_id
FROM unnest($map_station_ids::VARCHAR[]) WITH ORDINALITY AS s(station_id, position)
JOIN (
    SELECT * FROM unnest($map_evse_ids::VARCHAR[]) WITH ORDINALITY AS e(evse_id, position)
) AS e USING (position)
