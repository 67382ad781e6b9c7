-- reliability outages: each outage of each port inside [$range_start, $range_end) (the report
-- months), clipped to that range, with its excluded minutes and the causes that excluded them.
SELECT
    o.port_id,
    p.station_id,
    greatest(o.s, $range_start) AS outage_start_us,
    least(o.e, $range_end) AS outage_end_us,
    (least(o.e, $range_end) - greatest(o.s, $range_start)) / 60e6 AS outage_duration,
    o.states,
    coalesce(
        sum(a.excluded_us) FILTER (WHERE a.s >= $range_start AND a.s < $range_end), 0
    ) / 60e6 AS exempted_outage,
    array_to_string(
        list_sort(list_distinct(
            list(a.cause) FILTER (
                WHERE a.excluded_us > 0 AND a.s >= $range_start AND a.s < $range_end
            )
        )),
        ';'
    ) AS exclusion_causes
FROM port_outages AS o
JOIN port_ids AS p USING (port_id)
LEFT JOIN attributed_segments AS a ON a.port_id = o.port_id AND a.outage_start = o.s
WHERE o.s < $range_end AND o.e > $range_start
GROUP BY o.port_id, p.station_id, o.s, o.e, o.states
ORDER BY o.port_id, o.s
