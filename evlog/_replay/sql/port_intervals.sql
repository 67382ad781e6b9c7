-- The replayed EVSE state intervals as a reliability report reads them: per port, [s, e) in epoch
-- microseconds, with the port's location, up to the end of the lake's data ($data_end_us): after it
-- no state is held (docs/reliability.md, "Unobserved time"), the time is unobserved. Without the whole days a reliability report takes from
-- rollups, [$rollup_start_us, $rollup_end_us) (`port_rollup_months`; an empty range otherwise, and
-- then every interval is whole): the replay does not read those days' events.
SELECT
    i.entity_id AS port_id,
    e.location_id,
    i.state,
    greatest(i.interval_start, r.range_start) AS s,
    least(i.interval_end, r.range_end, $data_end_us) AS e
FROM intervals AS i
JOIN entities AS e USING (entity_id)
JOIN (
    SELECT $window_start_us AS range_start, $rollup_start_us AS range_end
    UNION ALL
    SELECT $rollup_end_us, $window_end_us
) AS r ON i.interval_start < r.range_end AND i.interval_end > r.range_start
WHERE i.interval_start < $data_end_us
