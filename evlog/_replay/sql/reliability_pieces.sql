-- The report months' time of each port, [$range_start, $range_end), as pieces [s, e) that each lie in
-- one month, by what they are (the CEC interval export, evlog/_reports/cec.py, cuts them into its
-- 15-minute or hourly intervals): `outage`, the outage minutes the report counts in
-- month_outage_min (closed time that leaves the basis, UK PCPR, is not); `excluded`, the part of them
-- an exclusion covers: a segment's excluded minutes are its first ones, as a cap is consumed in time
-- order (`attributed_segments`); `closed`, outside opening hours (UK PCPR's closed time, NEVI's and
-- CEC's `outside_hours` incidents, merged); `no_data` and `unobserved` as the report counts them,
-- time after the end of the lake's data ($data_end_us) unobserved. The same attributed segments as
-- the figures and the ledger, so the pieces add up to the report's month columns.
WITH report_range AS (
    SELECT month_label, month_start, month_end
    FROM calendar_months
    WHERE month_start >= $range_start AND month_start < $range_end
),
in_range AS (
    SELECT * FROM attributed_segments WHERE s >= $range_start AND s < $range_end
),
closed_rows AS (
    SELECT port_id, s, e FROM port_closed_hours
    UNION ALL
    SELECT port_id, s, e FROM incidents WHERE cause = 'outside_hours'
),
closed_islands AS (
    {{islands FROM closed_rows BY port_id}}
),
closed_time AS (
    SELECT port_id, min(s) AS s, max(e) AS e FROM closed_islands GROUP BY port_id, island
),
cut_at_months AS (
    -- closed time and the time the log cannot speak for, cut into the report months below
    SELECT port_id, s, e, 'closed' AS kind FROM closed_time
    UNION ALL
    SELECT port_id, s, e, state FROM port_intervals WHERE state IN ('no_data', 'unobserved')
)
SELECT port_id, month_label, s, e, 'outage' AS kind FROM in_range WHERE closed_us = 0
UNION ALL
SELECT port_id, month_label, s, CAST(s + excluded_us AS BIGINT), 'excluded'
FROM in_range
WHERE excluded_us > 0
UNION ALL
SELECT
    c.port_id,
    m.month_label,
    greatest(c.s, m.month_start),
    least(c.e, m.month_end),
    c.kind
FROM cut_at_months AS c
JOIN report_range AS m ON c.s < m.month_end AND c.e > m.month_start
UNION ALL
SELECT p.port_id, m.month_label, greatest(m.month_start, $data_end_us), m.month_end, 'unobserved'
FROM port_ids AS p
CROSS JOIN report_range AS m
WHERE m.month_end > $data_end_us
ORDER BY port_id, s, kind
