-- The parts of the window outside every covered span: `unobserved` for every entity (rule *Coverage*).
WITH ordered AS (
    SELECT
        span_start,
        coalesce(lag(span_end) OVER (ORDER BY span_start), -{{forever_us}}) AS previous_end
    FROM coverage_spans
),
gaps AS (
    SELECT previous_end AS gap_start, span_start AS gap_end FROM ordered
    UNION ALL
    -- after the last span (or everything, when the source's sessions are all empty)
    SELECT coalesce(max(span_end), -{{forever_us}}), {{forever_us}} FROM coverage_spans
)
SELECT
    greatest(gap_start, $window_start_us) AS gap_start,
    least(gap_end, $window_end_us) AS gap_end
FROM gaps
WHERE least(gap_end, $window_end_us) > greatest(gap_start, $window_start_us)
