-- flaps: per station and period, how often and how briefly it dropped off: the `disconnects` and
-- `short_disconnects` starting in the period, the `flapping_episodes` starting in it and the time
-- inside any, the effective uptime (short disconnects' offline time counted as online), and, for
-- operators used to Nagios/Icinga, the `percent_state_change` and flapping flag as of the period end.
WITH state_time AS (
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
        count(*) AS disconnects
    FROM disconnects AS d
    JOIN periods AS p ON d.disconnect_at >= p.period_start AND d.disconnect_at < p.period_end
    GROUP BY d.entity_id, p.period_start
),
short_disconnect_counts AS (
    SELECT d.entity_id, p.period_start, count(*) AS short_disconnects
    FROM short_disconnects AS d
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
    FROM short_disconnects AS d
    JOIN periods AS p ON d.disconnect_at < p.period_end AND d.offline_end > p.period_start
    GROUP BY d.entity_id, p.period_start
),
episode_counts AS (
    SELECT x.entity_id, p.period_start, count(*) AS flapping_episodes
    FROM flapping_episodes AS x
    JOIN periods AS p ON x.episode_start >= p.period_start AND x.episode_start < p.period_end
    GROUP BY x.entity_id, p.period_start
),
episode_time AS (
    SELECT
        x.entity_id,
        p.period_start,
        sum(least(x.episode_end, p.period_end) - greatest(x.episode_start, p.period_start))
            AS flapping_us
    FROM flapping_episodes AS x
    JOIN periods AS p ON x.episode_start < p.period_end AND x.episode_end > p.period_start
    GROUP BY x.entity_id, p.period_start
),
period_rows AS (
    SELECT
        s.entity_id,
        s.period_start,
        s.period_end,
        s.online_us,
        s.offline_us,
        coalesce(c.disconnects, 0) AS disconnects,
        coalesce(sc.short_disconnects, 0) AS short_disconnects,
        coalesce(x.flapping_episodes, 0) AS flapping_episodes,
        coalesce(f.flapping_us, 0) AS flapping_us,
        coalesce(o.short_offline_us, 0) AS short_offline_us
    FROM state_time AS s
    LEFT JOIN disconnect_counts AS c USING (entity_id, period_start)
    LEFT JOIN short_disconnect_counts AS sc USING (entity_id, period_start)
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
        SELECT entity_id, t, k, NULL AS period_start, 0 AS is_period_end FROM percent_state_change
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
    LEFT JOIN percent_state_change AS n ON n.entity_id = r.entity_id AND n.k = m.last_k
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
