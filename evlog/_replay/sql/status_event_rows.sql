-- The single scan of status_events: every EVSE observation that can matter for the window, i.e. every one
-- before its end however old (rule *Carry-in*: the state at the window start is the last one before it).
-- Shape shared by all entity kinds; the arrival columns only serve rule *Order by event time*.
-- With a checkpoint (`evlog lake compact`) at or before the window start, "however old" is one row per
-- EVSE: its state at the checkpoint, then only the events from the checkpoint day on. The filters on
-- the `date` partition column let DuckDB skip the other days' files without opening them.
-- When an availability report takes whole days from rollups (`rollups.py`), the events of those days
-- are not read at all: the replay reads the events before them (from the window start's checkpoint to
-- $head_end_us) and after them (from the checkpoint at their end, $tail_checkpoint_us). Without rollups
-- the first range is empty and both checkpoints are the same.
SELECT
    evse_id AS entity_id,
    status AS state,
    epoch_us(event_time) AS t,
    location_id,
    received_at,
    arrival_index,
    evse_index,
    record_key
FROM (
    SELECT *  -- the checkpoints have the events' columns, in the same order
    FROM status_events
    WHERE (
            date BETWEEN $checkpoint_date AND $head_last_date
            OR date BETWEEN $tail_checkpoint_date AND $last_date
        )
        AND (
            (epoch_us(event_time) >= $checkpoint_us AND epoch_us(event_time) < $head_end_us)
            OR epoch_us(event_time) >= $tail_checkpoint_us
        )
        AND event_time < make_timestamptz($window_end_us)
    UNION ALL
    SELECT *
    FROM status_checkpoints
    WHERE date = $checkpoint_date OR date = $tail_checkpoint_date
) AS observed
WHERE evse_id IS NOT NULL
    AND status IS NOT NULL
    AND (len($entity_ids::VARCHAR[]) = 0 OR list_contains($entity_ids::VARCHAR[], evse_id))
