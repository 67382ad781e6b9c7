-- Reliability, step 1: outage minutes per port, cut into elementary segments, each attributed to
-- an exclusion (or to none). Runs on a private connection over registered Arrow tables:
--   evse_intervals(port_id, location_id, state, s, e)   replayed EVSE intervals, epoch microseconds
--   station_offline(station_id, s, e)                   replayed station `offline` intervals
--   station_map(station_id, evse_id)                    --station-map (may be empty)
--   exclusions(entity_id, start_us, end_us, cause, cause_rank, cap_kind, cap_us)
--   months(month_label, year_label, month_start, month_end)  every calendar month of the query
-- Parameters: $outage_states (list), $include_mapped (ports known only from the station map).
--
-- An outage is the union of a port's intervals in an outage state and its stations' offline
-- intervals: overlapping or touching pieces merge, so no minute counts twice. Exclusion rows are
-- merged per port and cause into incidents the same way. Every outage is cut at month starts and at
-- incident edges, so each segment lies in one month and is covered by an incident entirely or not
-- at all. A segment covered by an uncapped cause is excluded in full; otherwise the capped cause of
-- lowest rank covering it (vandalism before planned maintenance) excludes as much as its cap has
-- left: caps are consumed in time order per incident (`incident`) or per calendar year (`year`).
CREATE OR REPLACE TEMP TABLE port_ids AS
WITH ports AS (
    SELECT port_id, any_value(location_id) AS location_id
    FROM evse_intervals
    GROUP BY port_id
    UNION ALL
    SELECT DISTINCT evse_id, NULL
    FROM station_map
    WHERE $include_mapped AND evse_id NOT IN (SELECT port_id FROM evse_intervals)
)
SELECT p.port_id, p.location_id, coalesce(min(m.station_id), p.location_id) AS station_id
FROM ports AS p
LEFT JOIN station_map AS m ON m.evse_id = p.port_id
GROUP BY p.port_id, p.location_id;

CREATE OR REPLACE TEMP TABLE outages AS
WITH raw_outage AS (
    SELECT port_id, s, e, state
    FROM evse_intervals
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
GROUP BY port_id, grp;

CREATE OR REPLACE TEMP TABLE incidents AS
WITH targets AS (
    SELECT port_id, port_id AS entity_id FROM port_ids
    UNION
    SELECT port_id, location_id FROM port_ids WHERE location_id IS NOT NULL
    UNION
    SELECT m.evse_id, m.station_id
    FROM station_map AS m
    WHERE m.evse_id IN (SELECT port_id FROM port_ids)
),
exclusion_rows AS (
    SELECT DISTINCT
        t.port_id, x.cause, x.cause_rank, x.cap_kind, x.cap_us, x.start_us AS s, x.end_us AS e
    FROM exclusions AS x
    JOIN targets AS t USING (entity_id)
),
marked AS (
    SELECT
        *,
        max(e) OVER (
            PARTITION BY port_id, cause ORDER BY s, e
            ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
        ) AS reach
    FROM exclusion_rows
),
grouped AS (
    SELECT
        *,
        sum(CASE WHEN reach IS NULL OR s > reach THEN 1 ELSE 0 END) OVER (
            PARTITION BY port_id, cause ORDER BY s, e ROWS UNBOUNDED PRECEDING
        ) AS grp
    FROM marked
)
SELECT
    port_id,
    cause,
    any_value(cause_rank) AS cause_rank,
    any_value(cap_kind) AS cap_kind,
    any_value(cap_us) AS cap_us,
    min(s) AS s,
    max(e) AS e
FROM grouped
GROUP BY port_id, cause, grp;

CREATE OR REPLACE TEMP TABLE attributed AS
WITH outage_ports AS (
    SELECT DISTINCT port_id FROM outages
),
points AS (
    SELECT port_id, s AS t FROM outages
    UNION
    SELECT port_id, e FROM outages
    UNION
    SELECT port_id, s FROM incidents WHERE port_id IN (SELECT port_id FROM outage_ports)
    UNION
    SELECT port_id, e FROM incidents WHERE port_id IN (SELECT port_id FROM outage_ports)
    UNION
    SELECT o.port_id, m.month_start FROM outage_ports AS o CROSS JOIN months AS m
),
segments AS (
    SELECT port_id, t AS s, lead(t) OVER (PARTITION BY port_id ORDER BY t) AS e
    FROM points
),
outage_segments AS (
    SELECT g.port_id, g.s, g.e, o.s AS outage_start, m.month_label, m.year_label
    FROM segments AS g
    JOIN outages AS o ON o.port_id = g.port_id AND o.s <= g.s AND g.e <= o.e
    JOIN months AS m ON m.month_start <= g.s AND g.s < m.month_end
    WHERE g.e IS NOT NULL
),
covered AS (
    SELECT
        g.port_id,
        g.s,
        g.e,
        g.outage_start,
        g.month_label,
        g.year_label,
        arg_min(i.cause, i.cause_rank) FILTER (WHERE i.cap_kind = 'none') AS uncapped_cause,
        arg_min(i.cause, i.cause_rank) FILTER (WHERE i.cap_kind <> 'none') AS capped_cause,
        arg_min(i.cap_kind, i.cause_rank) FILTER (WHERE i.cap_kind <> 'none') AS cap_kind,
        arg_min(i.cap_us, i.cause_rank) FILTER (WHERE i.cap_kind <> 'none') AS cap_us,
        arg_min(i.s, i.cause_rank) FILTER (WHERE i.cap_kind <> 'none') AS incident_start
    FROM outage_segments AS g
    LEFT JOIN incidents AS i ON i.port_id = g.port_id AND i.s <= g.s AND g.e <= i.e
    GROUP BY g.port_id, g.s, g.e, g.outage_start, g.month_label, g.year_label
),
capped AS (
    SELECT
        *,
        coalesce(
            sum(e - s) OVER (
                PARTITION BY
                    port_id,
                    capped_cause,
                    CASE WHEN cap_kind = 'incident' THEN incident_start::VARCHAR ELSE year_label END
                ORDER BY s
                ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
            ),
            0
        ) AS cap_used_before
    FROM covered
    WHERE uncapped_cause IS NULL AND capped_cause IS NOT NULL
)
SELECT
    c.port_id,
    c.s,
    c.e,
    c.outage_start,
    c.month_label,
    c.e - c.s AS outage_us,
    CASE
        WHEN c.uncapped_cause IS NOT NULL THEN c.e - c.s
        WHEN c.capped_cause IS NOT NULL
            THEN greatest(0, least(c.e - c.s, k.cap_us - k.cap_used_before))
        ELSE 0
    END AS excluded_us,
    coalesce(c.uncapped_cause, c.capped_cause) AS cause
FROM covered AS c
LEFT JOIN capped AS k ON k.port_id = c.port_id AND k.s = c.s;
