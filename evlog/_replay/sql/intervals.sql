-- State intervals: adjacent pieces of the same state merged (repeats are not transitions: rule *State durability*), with
-- the neighbouring states that make an interval a transition (e.g. online -> offline is a disconnect).
-- Every interval lies inside the window; the first and last of an entity are clipped to it.
WITH marked AS (
    SELECT
        entity_key,
        entity_id,
        state,
        piece_start,
        piece_end,
        CASE WHEN state IS DISTINCT FROM lag(state) OVER by_time THEN 1 ELSE 0 END AS starts_run
    FROM pieces
    WINDOW by_time AS (PARTITION BY entity_key ORDER BY piece_start)
),
runs AS (
    SELECT
        *,
        sum(starts_run) OVER (
            PARTITION BY entity_key ORDER BY piece_start ROWS UNBOUNDED PRECEDING
        ) AS run
    FROM marked
),
merged AS (
    SELECT
        entity_key,
        entity_id,
        state,
        min(piece_start) AS interval_start,
        max(piece_end) AS interval_end
    FROM runs
    GROUP BY entity_key, entity_id, run, state
)
SELECT
    entity_id,
    state,
    interval_start,
    interval_end,
    lag(state) OVER by_time AS previous_state,
    lead(state) OVER by_time AS next_state
FROM merged
WINDOW by_time AS (PARTITION BY entity_key ORDER BY interval_start)
