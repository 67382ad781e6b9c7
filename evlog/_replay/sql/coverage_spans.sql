-- Rule *Coverage*: when the source governing these entities was listening, as disjoint spans [span_start, span_end)
-- (that source's share of `coverage_union`).
-- A source with no coverage rows at all counts as observed throughout: one unbounded span, from
-- -forever to forever.
SELECT span_start, span_end
FROM coverage_union
WHERE source = $coverage_source
UNION ALL
SELECT -{{forever_us}} AS span_start, {{forever_us}} AS span_end
WHERE NOT EXISTS (SELECT 1 FROM coverage WHERE source = $coverage_source)
