-- `--station-map`: which station each port (EVSE) belongs to (may be empty).
SELECT s.station_id, e.evse_id
FROM unnest($map_station_ids::VARCHAR[]) WITH ORDINALITY AS s(station_id, position)
JOIN unnest($map_evse_ids::VARCHAR[]) WITH ORDINALITY AS e(evse_id, position) USING (position)
