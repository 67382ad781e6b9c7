-- The replayed EVSE state intervals as a reliability report reads them: per port, [s, e) in epoch
-- microseconds, with the port's location.
SELECT i.entity_id AS port_id, e.location_id, i.state, i.interval_start AS s, i.interval_end AS e
FROM intervals AS i
JOIN entities AS e USING (entity_id)
