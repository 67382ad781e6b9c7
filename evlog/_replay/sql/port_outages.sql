-- A port's outages: the union of its intervals in an outage state ($outage_states) and its stations'
-- offline intervals. Overlapping or touching pieces merge, so no minute counts twice.
WITH raw_outage AS (
    SELECT port_id, s, e, state
    FROM port_intervals
    WHERE list_contains($outage_states, state) AND e > s
    UNION ALL
    SELECT m.evse_id, o.s, o.e, 'offline'
    FROM station_offline AS o
    JOIN station_map AS m USING (station_id)
    WHERE m.evse_id IN (SELECT port_id FROM port_ids) AND o.e > o.s
),
islands AS (
    {{islands FROM raw_outage BY port_id}}
)
SELECT
    port_id,
    min(s) AS s,
    max(e) AS e,
    array_to_string(list_sort(list_distinct(list(state))), ';') AS states
FROM islands
GROUP BY port_id, island
