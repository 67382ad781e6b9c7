-- feed-health of the whole network: one row per period (`--by`; by default the window) over the EVSEs
-- with events in the window, from `feed_events` as `feed_health` reads them per EVSE: the EVSEs that
-- reported in the period and those silent all period, the events, repeats, clamped and out-of-order
-- events and their shares, the receive lag over every event of the period, and how many EVSEs had an
-- implausible rate (over 1,440 events on a UTC day), a CHARGING spell over 24 h overlapping the period,
-- or statuses after REMOVED. A period without any event has a row of zeros.
WITH kept AS (
    SELECT f.*
    FROM feed_events AS f
    JOIN entities AS e USING (entity_id)
),
placed AS (
    SELECT k.*, p.period_start
    FROM kept AS k
    JOIN periods AS p ON k.t >= p.period_start AND k.t < p.period_end
),
busy AS (
    -- the EVSEs with more than 1,440 events on a UTC day of the period
    SELECT period_start, count(DISTINCT entity_id) AS implausible_evses
    FROM (
        SELECT entity_id, period_start, t // 86400000000 AS day, count(*) AS events
        FROM placed
        GROUP BY ALL
    )
    WHERE events > 1440
    GROUP BY period_start
),
stuck AS (
    SELECT p.period_start, count(DISTINCT k.entity_id) AS charging_over_24h_evses
    FROM kept AS k
    JOIN periods AS p ON k.t < p.period_end AND k.next_t > p.period_start
    WHERE k.state = 'CHARGING' AND k.next_t - k.t > 86400000000
    GROUP BY p.period_start
),
counted AS (
    SELECT
        period_start,
        count(DISTINCT entity_id) AS reporting_evses,
        count(*) AS events,
        count(*) - count(DISTINCT (entity_id, t, state)) AS repeated,
        count(*) FILTER (WHERE t = r) AS clamped,
        count(*) FILTER (WHERE t < latest_so_far) AS out_of_order,
        quantile_cont((r - t) / 1e6, 0.5) AS lag_p50_s,
        quantile_cont((r - t) / 1e6, 0.95) AS lag_p95_s,
        count(DISTINCT entity_id) FILTER (
            WHERE previous_state = 'REMOVED' AND state <> 'REMOVED'
        ) AS after_removed_evses
    FROM placed
    GROUP BY period_start
)
SELECT
    make_timestamptz(p.period_start) AS period_start,
    make_timestamptz(p.period_end) AS period_end,
    (SELECT count(DISTINCT entity_id) FROM kept) AS evses,
    coalesce(c.reporting_evses, 0) AS reporting_evses,
    (SELECT count(DISTINCT entity_id) FROM kept) - coalesce(c.reporting_evses, 0) AS silent_evses,
    coalesce(c.events, 0) AS events,
    coalesce(c.repeated, 0) AS repeated,
    round(100.0 * c.repeated / nullif(c.events, 0), 3) AS repeated_pct,
    coalesce(c.clamped, 0) AS clamped,
    coalesce(c.out_of_order, 0) AS out_of_order,
    round(100.0 * c.out_of_order / nullif(c.events, 0), 3) AS out_of_order_pct,
    c.lag_p50_s,
    c.lag_p95_s,
    coalesce(b.implausible_evses, 0) AS implausible_evses,
    coalesce(s.charging_over_24h_evses, 0) AS charging_over_24h_evses,
    coalesce(c.after_removed_evses, 0) AS after_removed_evses
FROM periods AS p
LEFT JOIN counted AS c USING (period_start)
LEFT JOIN busy AS b USING (period_start)
LEFT JOIN stuck AS s USING (period_start)
ORDER BY p.period_start
