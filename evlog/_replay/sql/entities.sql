-- The report's entities: every one with an observation before the window end (rule *Every entity, every period*), with the location
-- of its latest-arriving event, then narrowed by the location filter.
-- `entity_key` is a small integer surrogate for the text id: the replay sorts and partitions every
-- event by entity, and that is several times cheaper on an INTEGER than on a VARCHAR.
-- The latest-arriving event's location is found in two steps: comparing every event's arrival
-- columns (`arg_max` over a four-field ROW with a VARCHAR) cost twice this whole aggregation. Almost
-- every entity's events all name one location, which is then the latest-arriving one's whatever the
-- arrival order (`entity_locations`); only the others (several locations, or a missing one) compare
-- arrival columns (`moved_entities`, the former rule unchanged).
WITH entity_locations AS (
    SELECT
        entity_id,
        -- never NULL: FALSE as soon as one event has no location
        count(location_id) = count(*) AND min(location_id) = max(location_id) AS one_location,
        min(location_id) AS location_id
    FROM event_rows
    GROUP BY entity_id
),
moved_entities AS (
    SELECT
        r.entity_id,
        arg_max(r.location_id, row(r.received_at, r.arrival_index, r.evse_index, r.record_key))
            AS location_id
    FROM event_rows AS r
    JOIN entity_locations AS l ON l.entity_id = r.entity_id AND NOT l.one_location
    GROUP BY r.entity_id
)
SELECT
    l.entity_id,
    CASE WHEN l.one_location THEN l.location_id ELSE m.location_id END AS location_id,
    row_number() OVER (ORDER BY l.entity_id)::INTEGER AS entity_key
FROM entity_locations AS l
LEFT JOIN moved_entities AS m ON m.entity_id = l.entity_id
WHERE len($location_ids::VARCHAR[]) = 0
    OR list_contains(
        $location_ids::VARCHAR[], CASE WHEN l.one_location THEN l.location_id ELSE m.location_id END
    )
