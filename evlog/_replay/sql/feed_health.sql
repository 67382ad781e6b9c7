-- feed-health: is the status feed trustworthy? One row per EVSE and period (`--by`; by default one
-- period, the window) for every EVSE with events in the window, from its events as they arrived (not as
-- the replay resolves them): exact repeats (rule *Order by event time* counts them once), times clamped
-- to their receipt (rule *Observations*: a clamped event's time is its received_at), events that
-- arrived after a later one of the same EVSE (out of order: judged over the whole window), the lag from
-- event time to receipt, the busiest UTC day (more than one status a minute all day is implausible), the
-- longest CHARGING spell overlapping the period (to the next event or the window end, not cut at the
-- period: a stuck charger shows on every day it is stuck), statuses after REMOVED, the last event by the
-- period end and the silence since. A period without events of the EVSE has a row of zeros.
WITH grid AS (
    SELECT e.entity_id, e.location_id, p.period_start, p.period_end
    FROM (
        SELECT entity_id, any_value(location_id) AS location_id FROM feed_events GROUP BY entity_id
    ) AS e
    CROSS JOIN periods AS p
),
placed AS (
    -- each event with the period it happened in
    SELECT o.*, p.period_start
    FROM feed_events AS o
    JOIN periods AS p ON o.t >= p.period_start AND o.t < p.period_end
),
days AS (
    SELECT entity_id, period_start, max(events) AS busiest_day_events
    FROM (
        SELECT entity_id, period_start, t // 86400000000 AS day, count(*) AS events
        FROM placed
        GROUP BY ALL
    )
    GROUP BY entity_id, period_start
),
counted AS (
    SELECT
        entity_id,
        period_start,
        count(*) AS events,
        count(*) - count(DISTINCT (t, state)) AS repeated,
        count(*) FILTER (WHERE t = r) AS clamped,
        count(*) FILTER (WHERE t < latest_so_far) AS out_of_order,
        quantile_cont((r - t) / 1e6, 0.5) AS lag_p50_s,
        quantile_cont((r - t) / 1e6, 0.95) AS lag_p95_s,
        count(*) FILTER (WHERE previous_state = 'REMOVED' AND state <> 'REMOVED') AS after_removed
    FROM placed
    GROUP BY entity_id, period_start
),
charging AS (
    SELECT o.entity_id, p.period_start, max(o.next_t - o.t) AS longest_charging_us
    FROM feed_events AS o
    JOIN periods AS p ON o.t < p.period_end AND o.next_t > p.period_start
    WHERE o.state = 'CHARGING'
    GROUP BY o.entity_id, p.period_start
),
last_seen AS (
    SELECT g.entity_id, g.period_start, max(o.t) AS last_t
    FROM grid AS g
    JOIN feed_events AS o ON o.entity_id = g.entity_id AND o.t < g.period_end
    GROUP BY g.entity_id, g.period_start
),
health AS (
    SELECT
        g.entity_id,
        g.location_id,
        g.period_start,
        g.period_end,
        coalesce(c.events, 0) AS events,
        coalesce(c.repeated, 0) AS repeated,
        coalesce(c.clamped, 0) AS clamped,
        coalesce(c.out_of_order, 0) AS out_of_order,
        c.lag_p50_s,
        c.lag_p95_s,
        coalesce(d.busiest_day_events, 0) AS busiest_day_events,
        coalesce(ch.longest_charging_us, 0) / 1e6 AS longest_charging_s,
        coalesce(c.after_removed, 0) AS after_removed,
        l.last_t
    FROM grid AS g
    LEFT JOIN counted AS c USING (entity_id, period_start)
    LEFT JOIN days AS d USING (entity_id, period_start)
    LEFT JOIN charging AS ch USING (entity_id, period_start)
    LEFT JOIN last_seen AS l USING (entity_id, period_start)
)
SELECT
    h.entity_id AS evse_id,
    h.location_id,
    make_timestamptz(h.period_start) AS period_start,
    make_timestamptz(h.period_end) AS period_end,
    h.events,
    h.repeated,
    round(100.0 * h.repeated / nullif(h.events, 0), 3) AS repeated_pct,
    h.clamped,
    h.out_of_order,
    round(100.0 * h.out_of_order / nullif(h.events, 0), 3) AS out_of_order_pct,
    h.lag_p50_s,
    h.lag_p95_s,
    h.busiest_day_events,
    h.busiest_day_events > 1440 AS implausible_rate,
    h.longest_charging_s,
    h.after_removed,
    make_timestamptz(h.last_t) AS last_event,
    (h.period_end - h.last_t) / 1e6 AS silent_s
FROM health AS h
JOIN entities AS e USING (entity_id)
ORDER BY
    h.period_start,
    implausible_rate DESC,
    h.repeated + h.clamped + h.out_of_order + h.after_removed DESC,
    silent_s DESC NULLS LAST,
    h.entity_id
