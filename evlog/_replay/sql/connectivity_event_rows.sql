-- The single scan of connectivity_events: every station observation before the window end, webhooks and
-- poll snapshots alike (rule *Observations*: a poll snapshot is an observation too). Stations have no location.
SELECT
    station_id AS entity_id,
    CASE WHEN online THEN 'online' ELSE 'offline' END AS state,
    epoch_us(event_time) AS t,
    NULL::VARCHAR AS location_id,
    received_at,
    arrival_index,
    NULL::INTEGER AS evse_index,
    record_key
FROM connectivity_events
WHERE event_time < make_timestamptz($window_end_us)
    AND station_id IS NOT NULL
    AND online IS NOT NULL
    AND (len($entity_ids::VARCHAR[]) = 0 OR list_contains($entity_ids::VARCHAR[], station_id))
