-- feed-health's events: every event of the window as it arrived (not as the replay resolves it), with
-- what feed-health judges it by: its receipt `r`, the latest event time of its entity arrived so far
-- (`latest_so_far`), the entity's previous state by event time, and the next event's time (the window
-- end after the last). `feed_health` reads it per entity, `feed_health_network` per network.
WITH arrived AS (
    SELECT
        entity_id,
        location_id,
        state,
        t,
        epoch_us(received_at) AS r,
        -- the latest event time arrived so far, this event's included: an earlier time than it
        -- means a later event arrived first
        max(t) OVER (
            PARTITION BY entity_id ORDER BY {{arrival_order}} ROWS UNBOUNDED PRECEDING
        ) AS latest_so_far
    FROM event_rows
    WHERE t >= $window_start_us AND t < $window_end_us
)
SELECT
    *,
    lag(state) OVER by_time AS previous_state,
    coalesce(lead(t) OVER by_time, $window_end_us) AS next_t
FROM arrived
WINDOW by_time AS (PARTITION BY entity_id ORDER BY t, r)
