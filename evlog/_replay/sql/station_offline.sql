-- The replayed `offline` intervals of the charging stations, [s, e) in epoch microseconds: read by an
-- EVSE query as `station_offline`, composed from the stations' own replay; up to the end of the lake's
-- data ($data_end_us), as the ports' own intervals (`port_intervals`).
SELECT entity_id AS station_id, interval_start AS s, least(interval_end, $data_end_us) AS e
FROM station_intervals
WHERE state = 'offline' AND interval_start < $data_end_us
