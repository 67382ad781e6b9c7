-- intervals: the state intervals themselves for analysts, split at period boundaries (none by default).
WITH split AS (
    SELECT
        i.entity_id,
        i.state,
        greatest(i.interval_start, p.period_start) AS part_start,
        least(i.interval_end, p.period_end) AS part_end
    FROM intervals AS i
    JOIN periods AS p ON i.interval_start < p.period_end AND i.interval_end > p.period_start
)
SELECT
    $entity_kind AS entity_kind,
    s.entity_id,
    e.location_id,
    s.state,
    make_timestamptz(s.part_start) AS interval_start,
    make_timestamptz(s.part_end) AS interval_end,
    (s.part_end - s.part_start) / 1e6 AS duration_s
FROM split AS s
JOIN entities AS e USING (entity_id)
ORDER BY s.entity_id, s.part_start
