-- The replayed `offline` intervals of the charging stations, [s, e) in epoch microseconds: read by an
-- EVSE query as `station_offline`, composed from the stations' own replay.
SELECT entity_id AS station_id, interval_start AS s, interval_end AS e
FROM station_intervals
WHERE state = 'offline'
