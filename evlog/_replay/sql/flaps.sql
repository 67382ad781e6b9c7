-- flaps: per station and period, how often and how briefly it dropped off.
--   disconnect        an online -> offline transition inside the window (an offline state already
--                     holding at the window start is an outage, not a disconnect of this window)
--   short disconnect  a disconnect whose offline interval ended with a reconnect (offline -> online)
--                     inside the window, strictly less than $flap_threshold_us after it began
--   flapping episode  every run of $flap_count consecutive disconnects whose first and last lie within
--                     $flap_window_us spans from its first disconnect to its last reconnect (the end of
--                     the last disconnect's offline interval); overlapping or touching spans merge
-- and, for operators used to Nagios/Icinga, a percent state change over the last 21 observations
-- (weights rising linearly from 0.75 for the oldest change to 1.25 for the newest) with hysteresis:
-- flapping starts when it exceeds $flap_high_pct and stops when it drops below $flap_low_pct.
WITH disconnects AS (
    SELECT
        entity_id,
        interval_start AS disconnect_at,
        interval_end AS offline_end,
        coalesce(
            next_state = 'online' AND interval_end - interval_start < $flap_threshold_us, FALSE
        ) AS is_short,
        row_number() OVER (PARTITION BY entity_id ORDER BY interval_start) AS n
    FROM intervals
    WHERE state = 'offline' AND previous_state = 'online'
),
flap_runs AS (
    SELECT run_first.entity_id, run_first.disconnect_at AS span_start, run_last.offline_end AS span_end
    FROM disconnects AS run_first
    JOIN disconnects AS run_last
        ON run_last.entity_id = run_first.entity_id
        AND run_last.n = run_first.n + $flap_count - 1
    WHERE run_last.disconnect_at - run_first.disconnect_at <= $flap_window_us
),
flap_reach AS (
    SELECT
        *,
        max(span_end) OVER (
            PARTITION BY entity_id ORDER BY span_start, span_end
            ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
        ) AS reached_before
    FROM flap_runs
),
flap_islands AS (
    SELECT
        *,
        sum(CASE WHEN reached_before >= span_start THEN 0 ELSE 1 END) OVER (
            PARTITION BY entity_id ORDER BY span_start, span_end ROWS UNBOUNDED PRECEDING
        ) AS island
    FROM flap_reach
),
episodes AS (
    SELECT entity_id, min(span_start) AS episode_start, max(span_end) AS episode_end
    FROM flap_islands
    GROUP BY entity_id, island
),
state_time AS (
    SELECT
        entity_id,
        period_start,
        period_end,
        coalesce(sum(duration_us) FILTER (WHERE state = 'online'), 0) AS online_us,
        coalesce(sum(duration_us) FILTER (WHERE state = 'offline'), 0) AS offline_us
    FROM period_pieces
    GROUP BY entity_id, period_start, period_end
),
disconnect_counts AS (
    SELECT
        d.entity_id,
        p.period_start,
        count(*) AS disconnects,
        count(*) FILTER (WHERE d.is_short) AS short_disconnects
    FROM disconnects AS d
    JOIN periods AS p ON d.disconnect_at >= p.period_start AND d.disconnect_at < p.period_end
    GROUP BY d.entity_id, p.period_start
),
short_offline_time AS (
    -- offline time of short disconnects, split at period boundaries: online for effective uptime
    SELECT
        d.entity_id,
        p.period_start,
        sum(least(d.offline_end, p.period_end) - greatest(d.disconnect_at, p.period_start))
            AS short_offline_us
    FROM disconnects AS d
    JOIN periods AS p ON d.disconnect_at < p.period_end AND d.offline_end > p.period_start
    WHERE d.is_short
    GROUP BY d.entity_id, p.period_start
),
episode_counts AS (
    SELECT x.entity_id, p.period_start, count(*) AS flapping_episodes
    FROM episodes AS x
    JOIN periods AS p ON x.episode_start >= p.period_start AND x.episode_start < p.period_end
    GROUP BY x.entity_id, p.period_start
),
episode_time AS (
    SELECT
        x.entity_id,
        p.period_start,
        sum(least(x.episode_end, p.period_end) - greatest(x.episode_start, p.period_start))
            AS flapping_us
    FROM episodes AS x
    JOIN periods AS p ON x.episode_start < p.period_end AND x.episode_end > p.period_start
    GROUP BY x.entity_id, p.period_start
),
state_changes AS (
    -- Nagios keeps the last 21 check results; here every observation (a webhook or a poll snapshot,
    -- repeats included) is one result, taken over the station's whole history before the window end.
    SELECT
        entity_id,
        t,
        row_number() OVER by_time AS k,
        CASE WHEN state <> lag(state) OVER by_time THEN 1 ELSE 0 END AS changed
    FROM observations
    WINDOW by_time AS (PARTITION BY entity_id ORDER BY t)
),
change_sums AS (
    -- The change into observation k, seen from observation j (the newest of 21 states), weighs
    -- 0.75 + (k - j + 19) / 38; the sum over the 20 changes is 0.75 * S0 + (S1 - (j - 19) * S0) / 38 with
    -- S0 = number of changes and S1 = sum of their k. Times 76 it is an integer: exact comparisons.
    SELECT
        entity_id,
        t,
        k,
        sum(changed) OVER last_20 AS s0,
        sum(changed * k) OVER last_20 AS s1
    FROM state_changes
    WINDOW last_20 AS (PARTITION BY entity_id ORDER BY t ROWS BETWEEN 19 PRECEDING AND CURRENT ROW)
),
percent_changes AS (
    SELECT entity_id, t, k, 57 * s0 + 2 * (s1 - (k - 19) * s0) AS weighted_changes_x76
    FROM change_sums
),
flap_marks AS (
    -- percent = weighted changes / 20 * 100 = weighted_changes_x76 * 5 / 76
    SELECT
        entity_id,
        t,
        k,
        weighted_changes_x76 * 5.0 / 76 AS percent_state_change,
        max(CASE WHEN weighted_changes_x76 * 5 > $flap_high_pct * 76 THEN k END)
            OVER (PARTITION BY entity_id ORDER BY t ROWS UNBOUNDED PRECEDING) AS last_high,
        max(CASE WHEN weighted_changes_x76 * 5 < $flap_low_pct * 76 THEN k END)
            OVER (PARTITION BY entity_id ORDER BY t ROWS UNBOUNDED PRECEDING) AS last_low
    FROM percent_changes
),
flap_state AS (
    SELECT entity_id, t, k, percent_state_change, coalesce(last_high > coalesce(last_low, 0), FALSE)
        AS is_flapping
    FROM flap_marks
),
period_rows AS (
    SELECT
        s.entity_id,
        s.period_start,
        s.period_end,
        s.online_us,
        s.offline_us,
        coalesce(c.disconnects, 0) AS disconnects,
        coalesce(c.short_disconnects, 0) AS short_disconnects,
        coalesce(x.flapping_episodes, 0) AS flapping_episodes,
        coalesce(f.flapping_us, 0) AS flapping_us,
        coalesce(o.short_offline_us, 0) AS short_offline_us
    FROM state_time AS s
    LEFT JOIN disconnect_counts AS c USING (entity_id, period_start)
    LEFT JOIN episode_counts AS x USING (entity_id, period_start)
    LEFT JOIN episode_time AS f USING (entity_id, period_start)
    LEFT JOIN short_offline_time AS o USING (entity_id, period_start)
),
period_marks AS (
    -- The last observation strictly before each period's end (an "as of" join, written so that
    -- Spark runs it too): period ends and observations in one timeline per station, a period end
    -- sorting before an observation at the same instant; it takes the latest k seen so far.
    SELECT entity_id, period_start, is_period_end,
        max(k) OVER (
            PARTITION BY entity_id ORDER BY t, is_period_end DESC ROWS UNBOUNDED PRECEDING
        ) AS last_k
    FROM (
        SELECT entity_id, t, k, NULL AS period_start, 0 AS is_period_end FROM flap_state
        UNION ALL
        SELECT entity_id, period_end, NULL, period_start, 1 FROM period_rows
    ) AS timeline
),
with_nagios AS (
    -- the percent state change and flapping flag as of the end of each period
    SELECT r.*, n.percent_state_change, coalesce(n.is_flapping, FALSE) AS is_flapping
    FROM period_rows AS r
    JOIN period_marks AS m
        ON m.is_period_end = 1 AND m.entity_id = r.entity_id AND m.period_start = r.period_start
    LEFT JOIN flap_state AS n ON n.entity_id = r.entity_id AND n.k = m.last_k
),
ranked AS (
    SELECT
        *,
        sum(flapping_us) OVER station AS station_flapping_us,
        sum(short_disconnects) OVER station AS station_short_disconnects,
        sum(disconnects) OVER station AS station_disconnects
    FROM with_nagios
    WINDOW station AS (PARTITION BY entity_id)
)
SELECT
    entity_id AS station_id,
    make_timestamptz(period_start) AS period_start,
    make_timestamptz(period_end) AS period_end,
    (online_us + offline_us) / 1e6 AS observed_s,
    online_us / 1e6 AS online_s,
    offline_us / 1e6 AS offline_s,
    disconnects,
    short_disconnects,
    flapping_episodes,
    flapping_us / 1e6 AS flapping_s,
    100.0 * online_us / nullif(online_us + offline_us, 0) AS uptime_pct,
    100.0 * (online_us + short_offline_us) / nullif(online_us + offline_us, 0)
        AS effective_uptime_pct,
    percent_state_change,
    is_flapping
FROM ranked
ORDER BY
    station_flapping_us DESC,
    station_short_disconnects DESC,
    station_disconnects DESC,
    station_id,
    period_start
