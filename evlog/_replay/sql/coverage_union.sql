-- Rule *Coverage*: when each source was listening, as disjoint spans [span_start, span_end) per source.
-- Each coverage row is a covered interval: a declared window, or a live session's [start, heartbeat]
-- (heartbeats always reach back to the session start, so the union of a session's rows is its whole
-- span). A source's coverage is the union of its rows with some length (an empty row covers
-- nothing), merged: overlapping or touching rows join. `lake info` shows these spans too.
WITH sessions AS (
    SELECT source, epoch_us(covered_from) AS s, epoch_us(covered_to) AS e
    FROM coverage
    WHERE covered_to > covered_from
),
islands AS (
    {{islands FROM sessions BY source}}
)
SELECT source, min(s) AS span_start, max(e) AS span_end
FROM islands
GROUP BY source, island
