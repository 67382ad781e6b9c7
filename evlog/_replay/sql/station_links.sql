-- The station <-> port links the feeds carry (docs/reliability.md, "Connectivity"): a port whose
-- location is a station id seen in the connectivity events is a port of that station (eDRV
-- connectors: their location is their chargestation). Read from the replay's own entities, so a
-- report over a compacted lake reads no more history for it than for its figures.
SELECT DISTINCT e.location_id AS station_id, e.entity_id AS evse_id
FROM entities AS e
WHERE e.location_id IN (SELECT DISTINCT station_id FROM connectivity_events)
ORDER BY station_id, evse_id
