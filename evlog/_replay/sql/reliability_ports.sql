-- reliability: one row per port and report month, the standard's figure over the month's basis
-- (`report_months`). Whole days taken from rollups add their time per port and month
-- (`port_rollup_months`) to the replayed intervals'. Parameters: $denominator_min (a fixed denominator in
-- minutes, NULL for the basis' real length), $target_pct, $strict (figure must exceed the target).
WITH port_month AS (
    SELECT
        p.port_id,
        m.month_label,
        m.month_start,
        m.month_end,
        coalesce(o.outage_us, 0) AS outage_us,
        coalesce(o.excluded_us, 0) AS excluded_us,
        coalesce(q.no_data_us, 0) AS no_data_us,
        coalesce(q.unobserved_us, 0) AS unobserved_us
    FROM port_ids AS p
    CROSS JOIN calendar_months AS m
    LEFT JOIN (
        SELECT port_id, month_label, sum(outage_us) AS outage_us, sum(excluded_us) AS excluded_us
        FROM (
            SELECT port_id, month_label, outage_us, excluded_us FROM attributed_segments
            UNION ALL
            SELECT port_id, month_label, outage_us, 0 FROM port_rollup_months  -- none excluded
        ) AS outage_time
        GROUP BY port_id, month_label
    ) AS o ON o.port_id = p.port_id AND o.month_label = m.month_label
    LEFT JOIN (
        SELECT port_id, month_label, sum(no_data_us) AS no_data_us, sum(unobserved_us) AS unobserved_us
        FROM (
            SELECT
                i.port_id,
                m2.month_label,
                CASE WHEN i.state = 'no_data'
                    THEN least(i.e, m2.month_end) - greatest(i.s, m2.month_start) ELSE 0
                END AS no_data_us,
                CASE WHEN i.state = 'unobserved'
                    THEN least(i.e, m2.month_end) - greatest(i.s, m2.month_start) ELSE 0
                END AS unobserved_us
            FROM port_intervals AS i
            JOIN calendar_months AS m2 ON i.s < m2.month_end AND i.e > m2.month_start
            WHERE i.state IN ('no_data', 'unobserved')
            UNION ALL
            SELECT port_id, month_label, no_data_us, unobserved_us FROM port_rollup_months
        ) AS observation_gaps
        GROUP BY port_id, month_label
    ) AS q ON q.port_id = p.port_id AND q.month_label = m.month_label
),
basis AS (
    SELECT
        pm.port_id,
        r.month_label,
        any_value(r.basis_start) AS basis_start,
        any_value(r.basis_end) AS basis_end,
        sum(pm.outage_us) AS t_outage_us,
        sum(pm.excluded_us) AS t_excluded_us,
        sum(pm.no_data_us) AS no_data_us,
        sum(pm.unobserved_us) AS unobserved_us,
        sum(pm.outage_us) FILTER (WHERE pm.month_label = r.month_label) AS month_outage_us,
        sum(pm.excluded_us) FILTER (WHERE pm.month_label = r.month_label) AS month_excluded_us,
        any_value(r.month_end - r.month_start) AS month_us
    FROM report_months AS r
    JOIN port_month AS pm ON pm.month_start >= r.basis_start AND pm.month_start < r.basis_end
    GROUP BY pm.port_id, r.month_label
),
figures AS (
    SELECT
        b.*,
        coalesce($denominator_min::DOUBLE, (b.basis_end - b.basis_start) / 60e6) AS denominator_min,
        greatest(
            0.0,
            100.0 * (
                coalesce($denominator_min::DOUBLE, (b.basis_end - b.basis_start) / 60e6)
                - (b.t_outage_us - b.t_excluded_us) / 60e6
            ) / coalesce($denominator_min::DOUBLE, (b.basis_end - b.basis_start) / 60e6)
        ) AS uptime_pct,
        100.0 * (b.month_us - (b.month_outage_us - b.month_excluded_us)) / b.month_us
            AS month_uptime_pct
    FROM basis AS b
)
SELECT
    f.month_label AS report_month,
    f.port_id,
    p.station_id,
    p.location_id,
    f.basis_start,
    f.basis_end,
    f.uptime_pct,
    CASE
        WHEN $strict THEN round(f.uptime_pct, 9) > $target_pct
        ELSE round(f.uptime_pct, 9) >= $target_pct
    END AS passed,
    f.t_outage_us / 60e6 AS t_outage_min,
    f.t_excluded_us / 60e6 AS t_excluded_min,
    f.denominator_min,
    f.month_uptime_pct,
    f.month_outage_us / 60e6 AS month_outage_min,
    f.month_excluded_us / 60e6 AS month_excluded_min,
    f.no_data_us / 60e6 AS no_data_min,
    f.unobserved_us / 60e6 AS unobserved_min
FROM figures AS f
JOIN port_ids AS p USING (port_id)
ORDER BY f.month_label, f.port_id
