-- availability: per EVSE and period, time in each state (seconds) and the two ratios of the design.
--   available_pct  = AVAILABLE / observed time with a known status (observed minus UNKNOWN)
--   in_service_pct = observed time neither INOPERATIVE nor OUT_OF_ORDER / observed time
-- Sums stay in integer microseconds until the end so that the parts add up exactly.
-- Time in each status comes from the replay (`status_time`) and, for whole local days that
-- `evlog lake compact` rolled up, from the rollups (`rollups.py`: those days' events are not read);
-- unobserved time is the coverage gaps, the same for every EVSE; no_data is the rest of the period.
WITH rolled_up_days AS (
    SELECT
        e.entity_key,
        r.day_start_us,
        r.available_us,
        r.charging_us,
        r.reserved_us,
        r.blocked_us,
        r.inoperative_us,
        r.out_of_order_us,
        r.planned_us,
        r.removed_us,
        r.unknown_us
    FROM status_rollups AS r
    JOIN entities AS e ON e.entity_id = r.evse_id
    WHERE r.zone = $rollup_zone
        AND r.date BETWEEN $rollup_first_date AND $rollup_last_date
        AND r.day_start_us >= $rollup_start_us
        AND r.day_start_us < $rollup_end_us
),
rolled_up_time AS (
    -- A rolled-up day lies inside one period (the engine uses rollups only then). Where the days
    -- are the periods, a day's start is its period's: no range join of every day with the periods.
    SELECT * FROM rolled_up_days WHERE $rollup_days_are_periods
    UNION ALL
    SELECT
        d.entity_key,
        p.period_start,
        d.available_us,
        d.charging_us,
        d.reserved_us,
        d.blocked_us,
        d.inoperative_us,
        d.out_of_order_us,
        d.planned_us,
        d.removed_us,
        d.unknown_us
    FROM rolled_up_days AS d
    JOIN periods AS p ON d.day_start_us >= p.period_start AND d.day_start_us < p.period_end
    WHERE NOT $rollup_days_are_periods
),
period_status_time AS (
    -- Where every rolled-up day is a whole period ($rollup_days_are_periods: `--by day` in the
    -- rollups' zone), a period's time comes either from the replay (one row per entity) or from
    -- one rollup row, never both: nothing to add up (the costliest step of a rolled-up report).
    SELECT * FROM status_time WHERE $rollup_days_are_periods
    UNION ALL
    SELECT * FROM rolled_up_time WHERE $rollup_days_are_periods
    UNION ALL
    SELECT
        entity_key,
        period_start,
        sum(available_us) AS available_us,
        sum(charging_us) AS charging_us,
        sum(reserved_us) AS reserved_us,
        sum(blocked_us) AS blocked_us,
        sum(inoperative_us) AS inoperative_us,
        sum(out_of_order_us) AS out_of_order_us,
        sum(planned_us) AS planned_us,
        sum(removed_us) AS removed_us,
        sum(unknown_us) AS unknown_us
    FROM (
        SELECT * FROM status_time
        UNION ALL
        SELECT * FROM rolled_up_time  -- the same columns in the same order
    ) AS observed
    WHERE NOT $rollup_days_are_periods
    GROUP BY entity_key, period_start
),
unobserved_time AS (
    SELECT
        p.period_start,
        sum(least(g.gap_end, p.period_end) - greatest(g.gap_start, p.period_start)) AS unobserved_us
    FROM periods AS p
    JOIN coverage_gaps AS g ON g.gap_start < p.period_end AND g.gap_end > p.period_start
    GROUP BY p.period_start
),
ordered_entities AS (
    -- the output's order as integers (sorting every row by two texts costs more): `entity_key`
    -- follows `entity_id`, and `location_rank` follows `location_id`, missing locations last
    SELECT *, dense_rank() OVER (ORDER BY location_id) AS location_rank
    FROM entities
),
entity_periods AS (
    -- every entity in every period (rule *Every entity, every period*), also where it has no observed time at all
    SELECT
        e.location_rank,
        e.entity_key,
        e.location_id,
        e.entity_id,
        p.period_start,
        p.period_end,
        p.period_end - p.period_start AS period_us,
        coalesce(u.unobserved_us, 0) AS unobserved_us,
        coalesce(s.available_us, 0) AS available_us,
        coalesce(s.charging_us, 0) AS charging_us,
        coalesce(s.reserved_us, 0) AS reserved_us,
        coalesce(s.blocked_us, 0) AS blocked_us,
        coalesce(s.inoperative_us, 0) AS inoperative_us,
        coalesce(s.out_of_order_us, 0) AS out_of_order_us,
        coalesce(s.planned_us, 0) AS planned_us,
        coalesce(s.removed_us, 0) AS removed_us,
        coalesce(s.unknown_us, 0) AS unknown_us
    FROM ordered_entities AS e
    CROSS JOIN periods AS p
    LEFT JOIN unobserved_time AS u ON u.period_start = p.period_start
    LEFT JOIN period_status_time AS s
        ON s.entity_key = e.entity_key AND s.period_start = p.period_start
),
with_observed AS (
    SELECT
        *,
        available_us + charging_us + reserved_us + blocked_us + inoperative_us
            + out_of_order_us + planned_us + removed_us + unknown_us AS observed_us
    FROM entity_periods
)
SELECT
    t.location_id,
    t.entity_id AS evse_id,
    make_timestamptz(t.period_start) AS period_start,
    make_timestamptz(t.period_end) AS period_end,
    (t.period_us - t.unobserved_us - t.observed_us) / 1e6 AS no_data_s,
    t.unobserved_us / 1e6 AS unobserved_s,
    t.observed_us / 1e6 AS observed_s,
    t.available_us / 1e6 AS available_s,
    t.charging_us / 1e6 AS charging_s,
    t.reserved_us / 1e6 AS reserved_s,
    t.blocked_us / 1e6 AS blocked_s,
    t.inoperative_us / 1e6 AS inoperative_s,
    t.out_of_order_us / 1e6 AS out_of_order_s,
    t.planned_us / 1e6 AS planned_s,
    t.removed_us / 1e6 AS removed_s,
    t.unknown_us / 1e6 AS unknown_s,
    100.0 * t.available_us / nullif(t.observed_us - t.unknown_us, 0) AS available_pct,
    100.0 * (t.observed_us - t.inoperative_us - t.out_of_order_us) / nullif(t.observed_us, 0)
        AS in_service_pct,
    -- without links to stations (`availability_connected` has them), the status alone
    0.0::DOUBLE AS station_offline_s,
    'status' AS state_basis
FROM with_observed AS t
ORDER BY t.location_rank, t.entity_key, t.period_start
