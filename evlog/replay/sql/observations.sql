-- Rule 3: one observation per entity and event_time. Exact duplicates count once; where one entity has
-- different states at the same event_time, the latest-arriving one holds (the only use of arrival order).
SELECT entity_id, state, t
FROM event_rows
WHERE entity_id IN (SELECT entity_id FROM entities)
QUALIFY row_number() OVER (
    PARTITION BY entity_id, t
    ORDER BY received_at DESC NULLS FIRST, arrival_index DESC NULLS FIRST,
        evse_index DESC NULLS FIRST, record_key DESC NULLS FIRST
) = 1
