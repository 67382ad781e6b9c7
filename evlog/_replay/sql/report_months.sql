-- The months a reliability report has rows for, each with its basis [basis_start, basis_end): the
-- twelve months ending with it (NEVI, CEC) or the calendar year up to it (UK PCPR).
-- (Lists join as subqueries: SQLGlot makes a bare `JOIN unnest(...)` a Spark LATERAL VIEW,
-- a cross product that loses `USING (position)`.)
SELECT m.month_label, m.month_start, m.month_end, b.basis_start, m.month_end AS basis_end
FROM unnest($report_month_labels::VARCHAR[]) WITH ORDINALITY AS r(month_label, position)
JOIN (
    SELECT * FROM unnest($basis_starts::BIGINT[]) WITH ORDINALITY AS b(basis_start, position)
) AS b USING (position)
JOIN calendar_months AS m ON m.month_label = r.month_label
