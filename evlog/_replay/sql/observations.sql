-- Rule *Order by event time*: one observation per entity and event_time. Exact duplicates count once; where one entity has
-- different states at the same event_time, the latest-arriving one holds (the only use of arrival order),
-- an observation's arrival being its first copy's (the rule `{{arrival_order}}`, which compact.py's checkpoint
-- SQL applies too).
-- This is the replay's one big sort: each entity's events by time (on the integer `entity_key`). From
-- the neighbours in that order come
--   * `next_t`, where an observation's segment ends (read by `pieces`: no second sort there);
--   * `is_first`, the entity's first observation (before it, the time is no_data).
-- Rows sharing (entity, t) with another are rare; only they are sorted again, by arrival, to find the
-- one that holds, with their arrival columns fetched again from `event_rows` (sorting every row by all
-- the arrival columns, or carrying them through the sort, would cost about twice as much).
WITH by_time AS MATERIALIZED (
    SELECT
        e.entity_key,
        r.entity_id,
        r.state,
        r.t,
        lead(r.t) OVER entity_timeline AS following_t,
        lag(r.t) OVER entity_timeline AS preceding_t
    FROM event_rows AS r
    JOIN entities AS e USING (entity_id)
    WINDOW entity_timeline AS (PARTITION BY e.entity_key ORDER BY r.t)
),
tie_groups AS (
    -- Within a group of rows at one (entity, t), the row after the group's last has the next time
    -- (none when the group ends the entity's history).
    SELECT
        entity_key,
        entity_id,
        t,
        max(following_t) FILTER (WHERE following_t <> t) AS next_t,
        bool_or(preceding_t IS NULL) AS is_first
    FROM by_time
    WHERE following_t = t OR preceding_t = t
    GROUP BY entity_key, entity_id, t
),
first_arrivals AS (
    -- An observation arrives when its first copy does: a republished copy (same entity, state and
    -- time, arriving later) must not make its state the latest-arriving one.
    SELECT g.entity_key, g.entity_id, r.state, g.t, g.next_t, g.is_first,
        r.received_at, r.arrival_index, r.evse_index, r.record_key
    FROM tie_groups AS g
    JOIN event_rows AS r ON r.entity_id = g.entity_id AND r.t = g.t
    QUALIFY row_number() OVER (
        PARTITION BY g.entity_key, g.t, r.state
        ORDER BY {{arrival_order}}
    ) = 1
),
ties AS (
    SELECT entity_key, entity_id, state, t, next_t, is_first
    FROM first_arrivals
    QUALIFY row_number() OVER (
        PARTITION BY entity_key, t
        ORDER BY {{arrival_order DESC}}
    ) = 1
)
SELECT entity_key, entity_id, state, t, following_t AS next_t, preceding_t IS NULL AS is_first
FROM by_time
WHERE following_t IS DISTINCT FROM t AND preceding_t IS DISTINCT FROM t
UNION ALL
SELECT entity_key, entity_id, state, t, next_t, is_first
FROM ties
