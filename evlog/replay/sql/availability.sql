-- availability: per EVSE and period, time in each state (seconds) and the two ratios of the design.
--   available_pct  = AVAILABLE / observed time with a known status (observed minus UNKNOWN)
--   in_service_pct = observed time neither INOPERATIVE nor OUT_OF_ORDER / observed time
-- Sums stay in integer microseconds until the end so that the parts add up exactly.
WITH state_totals AS (
    -- one row per entity, period and state: a narrow integer-keyed aggregation over every piece
    SELECT entity_key, period_start, period_end, state, sum(duration_us) AS duration_us
    FROM period_pieces
    GROUP BY entity_key, period_start, period_end, state
),
state_time AS (
    -- ... pivoted into one column per state (few rows: entities x periods)
    SELECT
        entity_key,
        period_start,
        period_end,
        period_end - period_start AS period_us,
        coalesce(sum(duration_us) FILTER (WHERE state = 'no_data'), 0) AS no_data_us,
        coalesce(sum(duration_us) FILTER (WHERE state = 'unobserved'), 0) AS unobserved_us,
        coalesce(sum(duration_us) FILTER (WHERE state = 'AVAILABLE'), 0) AS available_us,
        coalesce(sum(duration_us) FILTER (WHERE state = 'CHARGING'), 0) AS charging_us,
        coalesce(sum(duration_us) FILTER (WHERE state = 'RESERVED'), 0) AS reserved_us,
        coalesce(sum(duration_us) FILTER (WHERE state = 'BLOCKED'), 0) AS blocked_us,
        coalesce(sum(duration_us) FILTER (WHERE state = 'INOPERATIVE'), 0) AS inoperative_us,
        coalesce(sum(duration_us) FILTER (WHERE state = 'OUT_OF_ORDER'), 0) AS out_of_order_us,
        coalesce(sum(duration_us) FILTER (WHERE state = 'PLANNED'), 0) AS planned_us,
        coalesce(sum(duration_us) FILTER (WHERE state = 'REMOVED'), 0) AS removed_us,
        coalesce(sum(duration_us) FILTER (WHERE state = 'UNKNOWN'), 0) AS unknown_us
    FROM state_totals
    GROUP BY entity_key, period_start, period_end
),
with_observed AS (
    SELECT *, period_us - no_data_us - unobserved_us AS observed_us
    FROM state_time
)
SELECT
    e.location_id,
    e.entity_id AS evse_id,
    make_timestamptz(s.period_start) AS period_start,
    make_timestamptz(s.period_end) AS period_end,
    s.no_data_us / 1e6 AS no_data_s,
    s.unobserved_us / 1e6 AS unobserved_s,
    s.observed_us / 1e6 AS observed_s,
    s.available_us / 1e6 AS available_s,
    s.charging_us / 1e6 AS charging_s,
    s.reserved_us / 1e6 AS reserved_s,
    s.blocked_us / 1e6 AS blocked_s,
    s.inoperative_us / 1e6 AS inoperative_s,
    s.out_of_order_us / 1e6 AS out_of_order_s,
    s.planned_us / 1e6 AS planned_s,
    s.removed_us / 1e6 AS removed_s,
    s.unknown_us / 1e6 AS unknown_s,
    100.0 * s.available_us / nullif(s.observed_us - s.unknown_us, 0) AS available_pct,
    100.0 * (s.observed_us - s.inoperative_us - s.out_of_order_us) / nullif(s.observed_us, 0)
        AS in_service_pct
FROM with_observed AS s
JOIN entities AS e USING (entity_key)
ORDER BY e.location_id, evse_id, s.period_start
