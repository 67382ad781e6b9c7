-- The ports a report's `--feed` keeps (docs/lake.md, "Feeds"): with $feed 'edrv' the eDRV
-- connectors, ports whose location is a station id seen in the connectivity events (the link of
-- `station_links`), with 'here' every other port (HERE EVSEs: their location is a HERE location).
-- Read from the replay's own entities: an observation before the window end.
WITH stations AS (
    SELECT DISTINCT station_id FROM connectivity_events
)
SELECT e.entity_id
FROM entities AS e
LEFT JOIN stations AS s ON s.station_id = e.location_id
WHERE (s.station_id IS NOT NULL) = ($feed = 'edrv')
