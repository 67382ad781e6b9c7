-- Disconnects: every online -> offline transition inside the window, each with the offline interval
-- it starts [disconnect_at, offline_end) and its number `n` in the station's history (1, 2, ...).
-- An offline state already holding at the window start is an outage, not a disconnect of this
-- window: its interval has no previous state.
SELECT
    entity_id,
    interval_start AS disconnect_at,
    interval_end AS offline_end,
    next_state,
    row_number() OVER (PARTITION BY entity_id ORDER BY interval_start) AS n
FROM intervals
WHERE state = 'offline' AND previous_state = 'online'
