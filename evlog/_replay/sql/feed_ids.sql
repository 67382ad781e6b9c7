-- The ports a report's `--feed` keeps (docs/lake.md, "Feeds"): with $feed 'edrv' the eDRV
-- connectors, ports whose location is a station id seen in the connectivity events (the link of
-- `station_links`), with 'here' every other port (HERE EVSEs: their location is a HERE location).
-- Read from the replay's own entities: an observation before the window end.
SELECT e.entity_id
FROM entities AS e
WHERE coalesce(e.location_id IN (SELECT DISTINCT station_id FROM connectivity_events), false)
    = ($feed = 'edrv')
