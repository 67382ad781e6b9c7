-- The report's entities: every one with an observation before the window end (rule 6), with the location
-- of its latest-arriving event, then narrowed by the location filter.
-- `entity_key` is a small integer surrogate for the text id: the replay sorts and partitions every
-- event by entity, and that is several times cheaper on an INTEGER than on a VARCHAR.
SELECT
    entity_id,
    arg_max(location_id, row(received_at, arrival_index, evse_index, record_key)) AS location_id,
    row_number() OVER (ORDER BY entity_id)::INTEGER AS entity_key
FROM event_rows
GROUP BY entity_id
HAVING len($location_ids::VARCHAR[]) = 0 OR list_contains($location_ids::VARCHAR[], location_id)
