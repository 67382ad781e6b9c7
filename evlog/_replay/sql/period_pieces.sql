-- Rule *Periods*: the timeline split at period boundaries, with exact durations in microseconds. Because the
-- pieces tile the window, the parts of every entity and period add up to the period length (less the
-- days an availability report takes from rollups: `replayed_periods`).
-- Reads the pieces, not the merged intervals: merging adjacent pieces of one state changes no sum, and
-- skipping it saves two window passes for reports that only need durations.
SELECT
    i.entity_key,
    i.entity_id,
    i.state,
    p.period_start,
    p.period_end,
    least(i.piece_end, p.part_end) - greatest(i.piece_start, p.part_start) AS duration_us
FROM pieces AS i
JOIN replayed_periods AS p ON i.piece_start < p.part_end AND i.piece_end > p.part_start
