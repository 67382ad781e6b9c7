-- Report periods [period_start, period_end) from the boundaries computed in Python (local midnights,
-- ISO weeks, calendar months in the report's time zone), the first and last clipped to the window.
SELECT period_start, period_end
FROM (
    SELECT bound AS period_start, lead(bound) OVER (ORDER BY position) AS period_end
    FROM unnest($period_bounds::BIGINT[]) WITH ORDINALITY AS b(bound, position)
)
WHERE period_end IS NOT NULL
