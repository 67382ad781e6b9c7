-- Rule *Coverage*: when the source governing these entities was listening, as disjoint spans [span_start, span_end).
-- Each coverage row is a covered interval: a declared window, or a live session's [start, heartbeat]
-- (heartbeats always reach back to the session start, so the union of a session's rows is its whole
-- span). The source's coverage is the union of all rows, merged here (overlapping or touching rows
-- join: gaps-and-islands over a running maximum).
-- A source with no coverage rows at all counts as observed throughout: one unbounded span.
WITH sessions AS (
    SELECT epoch_us(covered_from) AS span_start, epoch_us(covered_to) AS span_end
    FROM coverage
    WHERE source = $coverage_source AND covered_to > covered_from
),
reach AS (
    SELECT
        span_start,
        span_end,
        max(span_end) OVER (
            ORDER BY span_start, span_end ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
        ) AS reached_before
    FROM sessions
),
islands AS (
    SELECT
        span_start,
        span_end,
        sum(CASE WHEN reached_before >= span_start THEN 0 ELSE 1 END)
            OVER (ORDER BY span_start, span_end ROWS UNBOUNDED PRECEDING) AS island
    FROM reach
)
SELECT min(span_start) AS span_start, max(span_end) AS span_end
FROM islands
GROUP BY island
UNION ALL
-- 2^62 microseconds (~146,000 years) stands for "forever" and still leaves room for arithmetic.
SELECT -4611686018427387904 AS span_start, 4611686018427387904 AS span_end
WHERE NOT EXISTS (SELECT 1 FROM coverage WHERE source = $coverage_source)
