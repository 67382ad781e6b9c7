-- reliability: one row per port and report month, the standard's figure over the month's basis
-- (`report_months`). Whole days taken from rollups add their time per port and month
-- (`port_rollup_months`) to the replayed intervals'. Time after the end of the lake's data
-- ($data_end_us) is unobserved like a coverage gap. Parameters: $denominator_min (a fixed
-- denominator in minutes, NULL for the basis' real length), $target_pct, $strict (figure must exceed
-- the target), $unobserved_as (how no_data and unobserved time count: 'excluded' from the basis,
-- 'outage' or 'up'), $min_coverage (the share of the basis, in percent, that must be observed for a
-- verdict; $min_coverage_label: it as written). docs/reliability.md, "Unobserved time", says why.
-- A port's closed time (`port_closed_hours`: UK PCPR's opening hours, reg. 7(5)) leaves the basis:
-- it is not in the basis' length, its outage minutes are no outage (`attributed_segments.closed_us`)
-- and its unknown minutes are not unknown (docs/reliability.md, "Opening hours").
WITH port_month AS (
    SELECT
        p.port_id,
        m.month_label,
        m.month_start,
        m.month_end,
        coalesce(o.outage_us, 0) AS outage_us,
        coalesce(o.excluded_us, 0) AS excluded_us,
        coalesce(q.no_data_us, 0) AS no_data_us,
        coalesce(q.unobserved_us, 0) AS unobserved_us,
        coalesce(c.closed_us, 0) AS closed_us,
        coalesce(c.unknown_us, 0) AS closed_unknown_us
    FROM port_ids AS p
    CROSS JOIN calendar_months AS m
    LEFT JOIN (
        SELECT port_id, month_label, sum(outage_us) AS outage_us, sum(excluded_us) AS excluded_us
        FROM (
            SELECT port_id, month_label, outage_us - closed_us AS outage_us, excluded_us
            FROM attributed_segments
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
            UNION ALL
            SELECT p2.port_id, m3.month_label, 0, m3.month_end - greatest(m3.month_start, $data_end_us)
            FROM port_ids AS p2
            CROSS JOIN calendar_months AS m3
            WHERE m3.month_end > $data_end_us
        ) AS observation_gaps
        GROUP BY port_id, month_label
    ) AS q ON q.port_id = p.port_id AND q.month_label = m.month_label
    LEFT JOIN (
        -- closed time per port and month, and the part of it the log cannot speak for (after the
        -- data's end; no_data and unobserved intervals)
        SELECT port_id, month_label, sum(closed_us) AS closed_us, sum(unknown_us) AS unknown_us
        FROM (
            SELECT
                h.port_id,
                m4.month_label,
                least(h.e, m4.month_end) - greatest(h.s, m4.month_start) AS closed_us,
                greatest(
                    0, least(h.e, m4.month_end) - greatest(h.s, m4.month_start, $data_end_us)
                ) AS unknown_us
            FROM port_closed_hours AS h
            JOIN calendar_months AS m4 ON h.s < m4.month_end AND h.e > m4.month_start
            UNION ALL
            SELECT
                h.port_id,
                m5.month_label,
                0,
                least(h.e, i.e, m5.month_end) - greatest(h.s, i.s, m5.month_start)
            FROM port_closed_hours AS h
            JOIN port_intervals AS i ON i.port_id = h.port_id AND i.s < h.e AND i.e > h.s
            JOIN calendar_months AS m5
                ON greatest(h.s, i.s) < m5.month_end AND least(h.e, i.e) > m5.month_start
            WHERE i.state IN ('no_data', 'unobserved')
        ) AS closed_time
        GROUP BY port_id, month_label
    ) AS c ON c.port_id = p.port_id AND c.month_label = m.month_label
),
basis AS (
    SELECT
        pm.port_id,
        r.month_label,
        any_value(r.basis_start) AS basis_start,
        any_value(r.basis_end) AS basis_end,
        any_value(r.basis_end - r.basis_start) - sum(pm.closed_us) AS basis_us,
        sum(pm.outage_us) AS status_outage_us,
        sum(pm.excluded_us) AS t_excluded_us,
        sum(pm.no_data_us) AS no_data_us,
        sum(pm.unobserved_us) AS unobserved_us,
        sum(pm.no_data_us + pm.unobserved_us - pm.closed_unknown_us) AS unknown_us,
        sum(pm.outage_us) FILTER (WHERE pm.month_label = r.month_label) AS month_status_outage_us,
        sum(pm.excluded_us) FILTER (WHERE pm.month_label = r.month_label) AS month_excluded_us,
        sum(pm.no_data_us + pm.unobserved_us - pm.closed_unknown_us)
            FILTER (WHERE pm.month_label = r.month_label) AS month_unknown_us,
        any_value(r.month_end - r.month_start)
            - sum(pm.closed_us) FILTER (WHERE pm.month_label = r.month_label) AS month_us
    FROM report_months AS r
    JOIN port_month AS pm ON pm.month_start >= r.basis_start AND pm.month_start < r.basis_end
    GROUP BY pm.port_id, r.month_label
),
counted AS (
    -- T_outage and the denominator under $unobserved_as: 'excluded' scales the rule's denominator
    -- to the observed share of the basis (exact when all is observed), 'outage' adds the unknown
    -- time to T_outage, 'up' counts it as up.
    SELECT
        b.*,
        b.basis_us - b.unknown_us AS measured_us,
        b.status_outage_us + CASE WHEN $unobserved_as = 'outage' THEN b.unknown_us ELSE 0 END
            AS t_outage_us,
        b.month_status_outage_us
            + CASE WHEN $unobserved_as = 'outage' THEN b.month_unknown_us ELSE 0 END
            AS month_outage_us,
        coalesce($denominator_min::DOUBLE, b.basis_us / 60e6)
            * CASE WHEN $unobserved_as = 'excluded' THEN (b.basis_us - b.unknown_us) / nullif(b.basis_us, 0)
                ELSE 1.0 END
            AS denominator_min,
        CASE WHEN $unobserved_as = 'excluded' THEN b.month_us - b.month_unknown_us ELSE b.month_us END
            AS month_denominator_us
    FROM basis AS b
),
figures AS (
    SELECT
        c.*,
        100.0 * c.measured_us / nullif(c.basis_us, 0) AS coverage_pct,
        CASE WHEN c.denominator_min > 0 THEN greatest(
            0.0,
            100.0 * (c.denominator_min - (c.t_outage_us - c.t_excluded_us) / 60e6) / c.denominator_min
        ) END AS uptime_pct,
        CASE WHEN c.month_denominator_us > 0 THEN greatest(
            0.0,
            100.0 * (c.month_denominator_us - (c.month_outage_us - c.month_excluded_us))
                / c.month_denominator_us
        ) END AS month_uptime_pct
    FROM counted AS c
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
        WHEN f.uptime_pct IS NULL OR round(f.coverage_pct, 9) < $min_coverage THEN NULL
        WHEN $strict THEN round(f.uptime_pct, 9) > $target_pct
        ELSE round(f.uptime_pct, 9) >= $target_pct
    END AS passed,
    CASE
        WHEN f.measured_us = 0 THEN 'nothing observed in the basis'
        WHEN round(f.coverage_pct, 9) < $min_coverage
            THEN printf('coverage %.2f %% is under %s %%', f.coverage_pct, $min_coverage_label)
    END AS no_verdict_reason,
    f.t_outage_us / 60e6 AS t_outage_min,
    f.t_excluded_us / 60e6 AS t_excluded_min,
    f.denominator_min,
    f.measured_us / 60e6 AS measured_min,
    f.coverage_pct,
    p.state_basis,
    f.month_uptime_pct,
    f.month_outage_us / 60e6 AS month_outage_min,
    f.month_excluded_us / 60e6 AS month_excluded_min,
    f.month_us / 60e6 AS month_min,  -- the month's minutes in the basis (less closed time, UK)
    (f.month_us - f.month_unknown_us) / 60e6 AS month_measured_min,
    f.no_data_us / 60e6 AS no_data_min,
    f.unobserved_us / 60e6 AS unobserved_min,
    f.basis_us / 60e6 AS basis_min  -- the basis' minutes less closed time (for the network row)
FROM figures AS f
JOIN port_ids AS p USING (port_id)
ORDER BY f.month_label, f.port_id
