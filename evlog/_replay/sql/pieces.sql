-- Rules *State durability* and *Coverage* as one timeline per entity that tiles the window [start, end) exactly:
--   * an observation's state holds from its event_time until the next observation (a repeat merely
--     restarts the segment, which matters only after a coverage gap);
--   * before the entity's first observation the time is no_data;
--   * outside the source's coverage it is unobserved;
--   * inside a covered span, a state carried in from before the span started is no_data (we were not
--     listening, so it may have changed), unless the caller asked to hold states across gaps.
WITH segments AS (
    -- `next_t` is the next observation of the entity (observations.sql): no second sort here
    SELECT
        entity_key,
        entity_id,
        state,
        t AS segment_start,
        coalesce(next_t, $window_end_us) AS segment_end,
        FALSE AS before_first_observation
    FROM observations
    UNION ALL
    SELECT entity_key, entity_id, 'no_data', -{{forever_us}}, t, TRUE
    FROM observations
    WHERE is_first
),
segments_in_window AS (
    SELECT *
    FROM segments
    WHERE segment_end > $window_start_us AND segment_start < $window_end_us
),
observed_pieces AS (
    SELECT
        s.entity_key,
        s.entity_id,
        CASE
            WHEN s.before_first_observation THEN 'no_data'
            WHEN s.segment_start < c.span_start AND NOT $hold_after_gap THEN 'no_data'
            ELSE s.state
        END AS state,
        greatest(s.segment_start, c.span_start, $window_start_us) AS piece_start,
        least(s.segment_end, c.span_end, $window_end_us) AS piece_end
    FROM segments_in_window AS s
    JOIN coverage_spans AS c ON s.segment_start < c.span_end AND s.segment_end > c.span_start
),
unobserved_pieces AS (
    SELECT e.entity_key, e.entity_id, 'unobserved' AS state, g.gap_start AS piece_start, g.gap_end AS piece_end
    FROM entities AS e
    CROSS JOIN coverage_gaps AS g
)
SELECT * FROM observed_pieces WHERE piece_end > piece_start
UNION ALL
SELECT * FROM unobserved_pieces
