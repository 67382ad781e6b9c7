-- feed-health: is the status feed trustworthy? One row per EVSE over the window, from its events in the
-- window as they arrived (not as the replay resolves them): exact repeats (rule *Order by event time*
-- counts them once), times clamped to their receipt (rule *Observations*: a clamped event's time is its
-- received_at), events that arrived after a later one of the same EVSE (out of order), the lag from
-- event time to receipt, the busiest UTC day (more than one status a minute all day is implausible), the
-- longest CHARGING spell (to the next event or the window end), statuses after REMOVED, the last event.
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
),
ordered AS (
    SELECT
        *,
        lag(state) OVER by_time AS previous_state,
        coalesce(lead(t) OVER by_time, $window_end_us) AS next_t
    FROM arrived
    WINDOW by_time AS (PARTITION BY entity_id ORDER BY t, r)
),
days AS (
    SELECT entity_id, max(events) AS busiest_day_events
    FROM (SELECT entity_id, t // 86400000000 AS day, count(*) AS events FROM arrived GROUP BY ALL)
    GROUP BY entity_id
),
health AS (
    SELECT
        entity_id,
        any_value(location_id) AS location_id,
        count(*) AS events,
        count(*) - count(DISTINCT (t, state)) AS repeated,
        count(*) FILTER (WHERE t = r) AS clamped,
        count(*) FILTER (WHERE t < latest_so_far) AS out_of_order,
        quantile_cont((r - t) / 1e6, 0.5) AS lag_p50_s,
        quantile_cont((r - t) / 1e6, 0.95) AS lag_p95_s,
        coalesce(max(next_t - t) FILTER (WHERE state = 'CHARGING'), 0) / 1e6 AS longest_charging_s,
        count(*) FILTER (WHERE previous_state = 'REMOVED' AND state <> 'REMOVED') AS after_removed,
        max(t) AS last_t
    FROM ordered
    GROUP BY entity_id
)
SELECT
    h.entity_id AS evse_id,
    h.location_id,
    h.events,
    h.repeated,
    round(100.0 * h.repeated / h.events, 3) AS repeated_pct,
    h.clamped,
    h.out_of_order,
    round(100.0 * h.out_of_order / h.events, 3) AS out_of_order_pct,
    h.lag_p50_s,
    h.lag_p95_s,
    d.busiest_day_events,
    d.busiest_day_events > 1440 AS implausible_rate,
    h.longest_charging_s,
    h.after_removed,
    make_timestamptz(h.last_t) AS last_event,
    ($window_end_us - h.last_t) / 1e6 AS silent_s
FROM health AS h
JOIN days AS d USING (entity_id)
JOIN entities AS e USING (entity_id)
ORDER BY
    implausible_rate DESC,
    h.repeated + h.clamped + h.out_of_order + h.after_removed DESC,
    silent_s DESC,
    h.entity_id
