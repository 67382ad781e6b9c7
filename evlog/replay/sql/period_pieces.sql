-- Rule 6: state intervals split at period boundaries, with exact durations in microseconds. Because the
-- intervals tile the window, the parts of every entity and period add up to the period length.
SELECT
    i.entity_id,
    i.state,
    p.period_start,
    p.period_end,
    least(i.interval_end, p.period_end) - greatest(i.interval_start, p.period_start) AS duration_us
FROM intervals AS i
JOIN periods AS p ON i.interval_start < p.period_end AND i.interval_end > p.period_start
