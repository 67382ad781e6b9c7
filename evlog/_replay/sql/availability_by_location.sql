-- availability roll-up per location and period: the time at least one of its EVSEs was AVAILABLE,
-- out of the time at least one of them was observed with a known status (not no_data, unobserved or
-- UNKNOWN). A sweep over interval edges counts EVSEs per state at every instant, without per-EVSE loops.
WITH located AS (
    SELECT
        e.location_id,
        i.interval_start,
        i.interval_end,
        CASE WHEN i.state = 'AVAILABLE' THEN 1 ELSE 0 END AS is_available,
        CASE WHEN i.state IN ('no_data', 'unobserved', 'UNKNOWN') THEN 0 ELSE 1 END AS is_known
    FROM intervals AS i
    JOIN entities AS e USING (entity_id)
),
edges AS (
    SELECT location_id, interval_start AS edge_at, is_available AS available_delta, is_known AS known_delta
    FROM located
    UNION ALL
    SELECT location_id, interval_end, -is_available, -is_known
    FROM located
),
deltas AS (
    SELECT location_id, edge_at, sum(available_delta) AS available_delta, sum(known_delta) AS known_delta
    FROM edges
    GROUP BY location_id, edge_at
),
levels AS (
    SELECT
        location_id,
        edge_at AS level_start,
        lead(edge_at) OVER by_time AS level_end,
        sum(available_delta) OVER (by_time ROWS UNBOUNDED PRECEDING) AS available_evses,
        sum(known_delta) OVER (by_time ROWS UNBOUNDED PRECEDING) AS known_evses
    FROM deltas
    WINDOW by_time AS (PARTITION BY location_id ORDER BY edge_at)
),
level_time AS (
    SELECT
        l.location_id,
        p.period_start,
        p.period_end,
        least(l.level_end, p.period_end) - greatest(l.level_start, p.period_start) AS duration_us,
        l.available_evses,
        l.known_evses
    FROM levels AS l
    JOIN periods AS p ON l.level_start < p.period_end AND l.level_end > p.period_start
    WHERE l.level_end IS NOT NULL
),
location_time AS (
    SELECT
        location_id,
        period_start,
        period_end,
        coalesce(sum(duration_us) FILTER (WHERE available_evses > 0), 0) AS any_available_us,
        coalesce(sum(duration_us) FILTER (WHERE known_evses > 0), 0) AS any_known_us
    FROM level_time
    GROUP BY location_id, period_start, period_end
),
location_size AS (
    SELECT location_id, count(*) AS evses FROM entities GROUP BY location_id
)
SELECT
    t.location_id,
    make_timestamptz(t.period_start) AS period_start,
    make_timestamptz(t.period_end) AS period_end,
    z.evses,
    t.any_known_us / 1e6 AS known_s,
    t.any_available_us / 1e6 AS available_s,
    100.0 * t.any_available_us / nullif(t.any_known_us, 0) AS available_pct
FROM location_time AS t
JOIN location_size AS z ON z.location_id IS NOT DISTINCT FROM t.location_id
ORDER BY t.location_id, t.period_start
