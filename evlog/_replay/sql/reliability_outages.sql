-- The outage ledger: each outage of each port inside [$range_start, $range_end) (the report months),
-- clipped to that range, with its excluded minutes and the causes that excluded them, the exclusion
-- rows (`FILE:LINE`) and notes behind them, its minutes beyond a cap (counted) and outside opening
-- hours that leave the basis (UK PCPR).
WITH in_range AS (
    SELECT * FROM attributed_segments WHERE s >= $range_start AND s < $range_end
),
outage_sums AS (
    SELECT
        port_id,
        outage_start,
        sum(excluded_us) AS excluded_us,
        sum(closed_us) AS closed_us,
        sum(over_cap_us) AS over_cap_us,
        array_to_string(
            list_sort(list_distinct(list(cause) FILTER (WHERE excluded_us > 0))), ';'
        ) AS exclusion_causes
    FROM in_range
    GROUP BY port_id, outage_start
),
excluding_rows AS (
    SELECT DISTINCT a.port_id, a.outage_start, x.source, x.note
    FROM in_range AS a
    JOIN port_exclusions AS x
        ON x.port_id = a.port_id AND x.cause = a.cause AND x.s < a.e AND x.e > a.s
    WHERE a.excluded_us > 0
),
row_lists AS (
    SELECT
        port_id,
        outage_start,
        -- NULLIF: an empty list is NULL on DuckDB and '' on Spark; both are no row
        nullif(
            array_to_string(list_sort(list_distinct(list(source) FILTER (WHERE source <> ''))), ';'),
            ''
        ) AS excluded_by,
        nullif(
            array_to_string(list_sort(list_distinct(list(note) FILTER (WHERE note <> ''))), ' | '),
            ''
        ) AS exclusion_notes
    FROM excluding_rows
    GROUP BY port_id, outage_start
)
SELECT
    o.port_id,
    p.station_id,
    greatest(o.s, $range_start) AS outage_start_us,
    least(o.e, $range_end) AS outage_end_us,
    (least(o.e, $range_end) - greatest(o.s, $range_start)) / 60e6 AS outage_duration,
    o.states,
    coalesce(t.excluded_us, 0) / 60e6 AS exempted_outage,
    t.exclusion_causes,
    r.exclusion_notes,
    r.excluded_by,
    coalesce(t.over_cap_us, 0) / 60e6 AS over_cap_min,
    coalesce(t.closed_us, 0) / 60e6 AS closed_min
FROM port_outages AS o
JOIN port_ids AS p USING (port_id)
LEFT JOIN outage_sums AS t ON t.port_id = o.port_id AND t.outage_start = o.s
LEFT JOIN row_lists AS r ON r.port_id = o.port_id AND r.outage_start = o.s
WHERE o.s < $range_end AND o.e > $range_start
ORDER BY o.port_id, o.s
