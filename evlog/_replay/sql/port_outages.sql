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
marked AS (
    SELECT
        *,
        max(e) OVER (
            PARTITION BY port_id ORDER BY s, e ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
        ) AS reach
    FROM raw_outage
),
grouped AS (
    SELECT
        *,
        sum(CASE WHEN reach IS NULL OR s > reach THEN 1 ELSE 0 END) OVER (
            PARTITION BY port_id ORDER BY s, e ROWS UNBOUNDED PRECEDING
        ) AS grp
    FROM marked
)
SELECT
    port_id,
    min(s) AS s,
    max(e) AS e,
    array_to_string(list_sort(list_distinct(list(state))), ';') AS states
FROM grouped
GROUP BY port_id, grp
