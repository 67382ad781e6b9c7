-- availability with connectivity: `availability` where the feeds or a station map link ports to
-- stations (docs/reliability.md, "Connectivity"). A port is not AVAILABLE, nor in service, while
-- its station is offline: that time leaves available_s' share and in_service_pct, and is reported
-- as station_offline_s (the port's observed time while a linked station was offline).
WITH port_offline AS (
    SELECT m.evse_id AS port_id, o.s, o.e
    FROM station_offline AS o
    JOIN station_map AS m USING (station_id)
    WHERE o.e > o.s
),
offline_islands AS (
    {{islands FROM port_offline BY port_id}}
),
merged_offline AS (
    SELECT port_id, min(s) AS s, max(e) AS e FROM offline_islands GROUP BY port_id, island
),
overlaps AS (
    SELECT
        i.entity_id,
        p.period_start,
        i.state,
        least(i.interval_end, o.e, p.period_end) - greatest(i.interval_start, o.s, p.period_start)
            AS overlap_us
    FROM intervals AS i
    JOIN merged_offline AS o
        ON o.port_id = i.entity_id AND i.interval_start < o.e AND i.interval_end > o.s
    JOIN periods AS p
        ON i.interval_start < p.period_end AND i.interval_end > p.period_start
        AND o.s < p.period_end AND o.e > p.period_start
),
offline_time AS (
    SELECT
        entity_id,
        make_timestamptz(period_start) AS period_start,
        coalesce(sum(overlap_us) FILTER (WHERE state NOT IN ('no_data', 'unobserved')), 0)
            AS offline_us,
        coalesce(sum(overlap_us) FILTER (WHERE state = 'AVAILABLE'), 0) AS available_offline_us,
        coalesce(sum(overlap_us) FILTER (
            WHERE state NOT IN ('no_data', 'unobserved', 'INOPERATIVE', 'OUT_OF_ORDER')
        ), 0) AS in_service_offline_us
    FROM overlaps
    WHERE overlap_us > 0
    GROUP BY entity_id, period_start
),
linked AS (
    SELECT DISTINCT evse_id FROM station_map
)
SELECT
    a.location_id,
    a.evse_id,
    a.period_start,
    a.period_end,
    a.no_data_s,
    a.unobserved_s,
    a.observed_s,
    a.available_s,
    a.charging_s,
    a.reserved_s,
    a.blocked_s,
    a.inoperative_s,
    a.out_of_order_s,
    a.planned_s,
    a.removed_s,
    a.unknown_s,
    -- a period without offline time keeps availability's own figures, to the last bit
    CASE WHEN t.entity_id IS NULL THEN a.available_pct ELSE
        100.0 * (a.available_s - t.available_offline_us / 1e6) / nullif(a.observed_s - a.unknown_s, 0)
    END AS available_pct,
    CASE WHEN t.entity_id IS NULL THEN a.in_service_pct ELSE
        100.0 * (a.observed_s - a.inoperative_s - a.out_of_order_s - t.in_service_offline_us / 1e6)
        / nullif(a.observed_s, 0)
    END AS in_service_pct,
    coalesce(t.offline_us, 0) / 1e6 AS station_offline_s,
    CASE WHEN l.evse_id IS NULL THEN 'status' ELSE 'status+connectivity' END AS state_basis
FROM availability AS a
LEFT JOIN offline_time AS t ON t.entity_id = a.evse_id AND t.period_start = a.period_start
LEFT JOIN linked AS l ON l.evse_id = a.evse_id
ORDER BY a.location_id NULLS LAST, a.evse_id, a.period_start
