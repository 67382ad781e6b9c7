-- `evlog report availability --group FIELD`: availability per value of one metadata field and period,
-- the times of its EVSEs summed (exactly: in microseconds) and availability's two ratios taken over the
-- sums (available_pct = AVAILABLE / (observed - UNKNOWN), in_service_pct = (observed - INOPERATIVE -
-- OUT_OF_ORDER) / observed). EVSEs whose metadata lacks the field make the group without a value.
WITH grouped AS (
    SELECT g.group_value, a.*
    FROM availability AS a
    LEFT JOIN metadata_group AS g ON g.entity_kind = 'port' AND g.entity_id = a.evse_id
),
summed AS (
    SELECT
        group_value,
        period_start,
        period_end,
        count(*) AS evses,
        sum(round(no_data_s * 1e6))::BIGINT AS no_data_us,
        sum(round(unobserved_s * 1e6))::BIGINT AS unobserved_us,
        sum(round(observed_s * 1e6))::BIGINT AS observed_us,
        sum(round(available_s * 1e6))::BIGINT AS available_us,
        sum(round(charging_s * 1e6))::BIGINT AS charging_us,
        sum(round(reserved_s * 1e6))::BIGINT AS reserved_us,
        sum(round(blocked_s * 1e6))::BIGINT AS blocked_us,
        sum(round(inoperative_s * 1e6))::BIGINT AS inoperative_us,
        sum(round(out_of_order_s * 1e6))::BIGINT AS out_of_order_us,
        sum(round(planned_s * 1e6))::BIGINT AS planned_us,
        sum(round(removed_s * 1e6))::BIGINT AS removed_us,
        sum(round(unknown_s * 1e6))::BIGINT AS unknown_us
    FROM grouped
    GROUP BY group_value, period_start, period_end
)
SELECT
    $group_by AS group_by,
    group_value,
    period_start,
    period_end,
    evses,
    no_data_us / 1e6 AS no_data_s,
    unobserved_us / 1e6 AS unobserved_s,
    observed_us / 1e6 AS observed_s,
    available_us / 1e6 AS available_s,
    charging_us / 1e6 AS charging_s,
    reserved_us / 1e6 AS reserved_s,
    blocked_us / 1e6 AS blocked_s,
    inoperative_us / 1e6 AS inoperative_s,
    out_of_order_us / 1e6 AS out_of_order_s,
    planned_us / 1e6 AS planned_s,
    removed_us / 1e6 AS removed_s,
    unknown_us / 1e6 AS unknown_s,
    100.0 * available_us / nullif(observed_us - unknown_us, 0) AS available_pct,
    100.0 * (observed_us - inoperative_us - out_of_order_us) / nullif(observed_us, 0)
        AS in_service_pct
FROM summed
ORDER BY group_value NULLS LAST, period_start
