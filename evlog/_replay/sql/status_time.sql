-- Time in each OCPI status per EVSE and period, one column per status (few rows: EVSEs x periods).
SELECT
    entity_key,
    period_start,
    coalesce(sum(duration_us) FILTER (WHERE state = 'AVAILABLE'), 0) AS available_us,
    coalesce(sum(duration_us) FILTER (WHERE state = 'CHARGING'), 0) AS charging_us,
    coalesce(sum(duration_us) FILTER (WHERE state = 'RESERVED'), 0) AS reserved_us,
    coalesce(sum(duration_us) FILTER (WHERE state = 'BLOCKED'), 0) AS blocked_us,
    coalesce(sum(duration_us) FILTER (WHERE state = 'INOPERATIVE'), 0) AS inoperative_us,
    coalesce(sum(duration_us) FILTER (WHERE state = 'OUT_OF_ORDER'), 0) AS out_of_order_us,
    coalesce(sum(duration_us) FILTER (WHERE state = 'PLANNED'), 0) AS planned_us,
    coalesce(sum(duration_us) FILTER (WHERE state = 'REMOVED'), 0) AS removed_us,
    coalesce(sum(duration_us) FILTER (WHERE state = 'UNKNOWN'), 0) AS unknown_us
FROM observed_time
GROUP BY entity_key, period_start
