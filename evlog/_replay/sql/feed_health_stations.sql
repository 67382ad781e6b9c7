-- feed-health of the connectivity feed: one row per station and period, `feed_health` read for
-- stations (their online/offline observations as they arrived), with the webhooks received in the
-- period that name the station but are of a type evlog does not turn into observations
-- ($known_webhook_types): how many, and which types (a new event type eDRV added, or a misrouted
-- endpoint).
WITH webhook_types AS (
    SELECT
        -- a session or connector names its station in `chargestation`; a Chargestation is one
        coalesce(
            try(json_extract_string(body, '$.data.chargestation')),
            try(json_extract_string(body, '$.data._id'))
        ) AS station_id,
        coalesce(try(json_extract_string(body, '$.event')), try(json_extract_string(body, '$.type')))
            AS event,
        r
    FROM (
        SELECT try(decode(payload)) AS body, epoch_us(received_at) AS r
        FROM raw_webhooks
        WHERE received_at >= make_timestamptz($window_start_us)
            AND received_at < make_timestamptz($window_end_us)
    ) AS bodies
),
other_types AS (
    SELECT
        w.station_id,
        make_timestamptz(p.period_start) AS period_start,
        count(*) AS other_webhooks,
        array_to_string(list_sort(list_distinct(list(w.event))), ';') AS other_types
    FROM webhook_types AS w
    JOIN periods AS p ON w.r >= p.period_start AND w.r < p.period_end
    WHERE w.event IS NOT NULL AND NOT list_contains($known_webhook_types::VARCHAR[], w.event)
    GROUP BY ALL
)
SELECT
    f.evse_id AS station_id,
    f.period_start,
    f.period_end,
    f.events,
    f.repeated,
    f.repeated_pct,
    f.clamped,
    f.out_of_order,
    f.out_of_order_pct,
    f.lag_p50_s,
    f.lag_p95_s,
    f.busiest_day_events,
    f.last_event,
    f.silent_s,
    coalesce(o.other_webhooks, 0) AS other_webhooks,
    coalesce(o.other_types, '') AS other_types
FROM feed_health AS f
LEFT JOIN other_types AS o ON o.station_id = f.evse_id AND o.period_start = f.period_start
ORDER BY
    f.period_start,
    f.repeated + f.clamped + f.out_of_order + coalesce(o.other_webhooks, 0) DESC,
    f.silent_s DESC NULLS LAST,
    station_id
