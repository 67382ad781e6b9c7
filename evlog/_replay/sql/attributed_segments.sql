-- Outage minutes per port, cut into elementary segments, each attributed to an exclusion (or to
-- none). Every outage is cut at month starts and at incident edges, so each segment lies in one month
-- and is covered by an incident entirely or not at all. A segment covered by an uncapped cause is
-- excluded in full; otherwise the capped cause of lowest rank covering it (vandalism before planned
-- maintenance) excludes as much as its cap has left: caps are consumed in time order per incident
-- (`incident`) or per calendar year (`year`).
WITH outage_ports AS (
    SELECT DISTINCT port_id FROM port_outages
),
points AS (
    SELECT port_id, s AS t FROM port_outages
    UNION
    SELECT port_id, e FROM port_outages
    UNION
    SELECT port_id, s FROM incidents WHERE port_id IN (SELECT port_id FROM outage_ports)
    UNION
    SELECT port_id, e FROM incidents WHERE port_id IN (SELECT port_id FROM outage_ports)
    UNION
    SELECT o.port_id, m.month_start FROM outage_ports AS o CROSS JOIN calendar_months AS m
),
segments AS (
    SELECT port_id, t AS s, lead(t) OVER (PARTITION BY port_id ORDER BY t) AS e
    FROM points
),
outage_segments AS (
    SELECT g.port_id, g.s, g.e, o.s AS outage_start, m.month_label, m.year_label
    FROM segments AS g
    JOIN port_outages AS o ON o.port_id = g.port_id AND o.s <= g.s AND g.e <= o.e
    JOIN calendar_months AS m ON m.month_start <= g.s AND g.s < m.month_end
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
LEFT JOIN capped AS k ON k.port_id = c.port_id AND k.s = c.s
