-- `evlog report uptime --group FIELD`: uptime per value of one metadata field and period, the times and
-- outages of its stations summed (times exactly, in microseconds) and uptime's figures taken over the
-- sums: uptime_pct = online / observed, mttr_s = total outage time / outages, longest_outage_s the
-- longest of any, mtbf_s = online / outages. Stations whose metadata lacks the field make the group
-- without a value.
WITH grouped AS (
    SELECT g.group_value, u.*
    FROM uptime AS u
    LEFT JOIN metadata_group AS g ON g.entity_kind = 'station' AND g.entity_id = u.station_id
),
summed AS (
    SELECT
        group_value,
        period_start,
        period_end,
        count(*) AS stations,
        sum(round(no_data_s * 1e6))::BIGINT AS no_data_us,
        sum(round(unobserved_s * 1e6))::BIGINT AS unobserved_us,
        sum(round(online_s * 1e6))::BIGINT AS online_us,
        sum(round(offline_s * 1e6))::BIGINT AS offline_us,
        sum(outages)::BIGINT AS outages,
        max(longest_outage_s) AS longest_outage_s,
        sum(round(coalesce(mttr_s, 0) * outages * 1e6))::BIGINT AS outage_us
    FROM grouped
    GROUP BY group_value, period_start, period_end
)
SELECT
    $group_by AS group_by,
    group_value,
    period_start,
    period_end,
    stations,
    no_data_us / 1e6 AS no_data_s,
    unobserved_us / 1e6 AS unobserved_s,
    (online_us + offline_us) / 1e6 AS observed_s,
    online_us / 1e6 AS online_s,
    offline_us / 1e6 AS offline_s,
    100.0 * online_us / nullif(online_us + offline_us, 0) AS uptime_pct,
    outages,
    longest_outage_s,
    outage_us / 1e6 / nullif(outages, 0) AS mttr_s,
    online_us / 1e6 / nullif(outages, 0) AS mtbf_s
FROM summed
ORDER BY group_value NULLS LAST, period_start
