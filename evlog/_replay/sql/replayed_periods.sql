-- The parts of each period whose time the replay computes: all of it, except the whole days that an
-- availability report takes from rollups, [$rollup_start_us, $rollup_end_us) (see `rollups.py`; for
-- every other report that range is empty and each period is one part).
SELECT
    p.period_start,
    p.period_end,
    greatest(p.period_start, r.range_start) AS part_start,
    least(p.period_end, r.range_end) AS part_end
FROM periods AS p
JOIN (
    SELECT $window_start_us AS range_start, $rollup_start_us AS range_end
    UNION ALL
    SELECT $rollup_end_us, $window_end_us
) AS r ON p.period_start < r.range_end AND p.period_end > r.range_start
