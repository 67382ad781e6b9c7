-- Short disconnects: the disconnects whose offline interval ended with a reconnect (offline ->
-- online) inside the window, strictly less than $flap_threshold_us after it began. Their offline
-- time counts as online for the effective uptime.
SELECT entity_id, disconnect_at, offline_end
FROM disconnects
WHERE next_state = 'online' AND offline_end - disconnect_at < $flap_threshold_us
