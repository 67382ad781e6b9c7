-- Outage minutes per port, cut into elementary segments, each attributed to an exclusion (or to
-- none). Every outage is cut at month starts, at incident edges and at the edges of the port's
-- closed time (`port_closed_hours`, UK PCPR's opening hours), so each segment lies in one month and
-- is covered by an incident, and by closed time, entirely or not at all. A closed segment leaves the
-- basis (`closed_us`): it is neither excluded nor uses a cap. Otherwise a segment covered by an
-- uncapped cause is excluded in full, and else the capped cause of lowest rank covering it
-- (vandalism before planned maintenance) excludes as much as its cap has left: caps are consumed in
-- time order per incident (`incident`) or per calendar year (`year`), the segment's `budget`; what
-- the cap no longer covers is `over_cap_us` (counted as outage). Only incidents and closed pieces
-- that overlap an outage can cut or cover a segment (`outage_incidents`, `outage_closed`): opening
-- hours make a few hundred closed pieces a year per port, most of them away from any outage.
WITH outage_ports AS (
    SELECT DISTINCT port_id FROM port_outages
),
outage_incidents AS (
    SELECT i.*
    FROM incidents AS i
    WHERE EXISTS (
        SELECT 1 FROM port_outages AS o WHERE o.port_id = i.port_id AND o.s < i.e AND o.e > i.s
    )
),
outage_closed AS (
    SELECT c.*
    FROM port_closed_hours AS c
    WHERE EXISTS (
        SELECT 1 FROM port_outages AS o WHERE o.port_id = c.port_id AND o.s < c.e AND o.e > c.s
    )
),
points AS (
    SELECT port_id, s AS t FROM port_outages
    UNION
    SELECT port_id, e FROM port_outages
    UNION
    SELECT port_id, s FROM outage_incidents
    UNION
    SELECT port_id, e FROM outage_incidents
    UNION
    SELECT port_id, s FROM outage_closed
    UNION
    SELECT port_id, e FROM outage_closed
    UNION
    SELECT o.port_id, m.month_start FROM outage_ports AS o CROSS JOIN calendar_months AS m
),
segments AS (
    SELECT port_id, t AS s, lead(t) OVER (PARTITION BY port_id ORDER BY t) AS e
    FROM points
),
outage_segments AS (
    SELECT
        g.port_id,
        g.s,
        g.e,
        o.s AS outage_start,
        m.month_label,
        m.year_label,
        c.port_id IS NOT NULL AS closed  -- closed pieces are merged: at most one covers it
    FROM segments AS g
    JOIN port_outages AS o ON o.port_id = g.port_id AND o.s <= g.s AND g.e <= o.e
    JOIN calendar_months AS m ON m.month_start <= g.s AND g.s < m.month_end
    LEFT JOIN outage_closed AS c ON c.port_id = g.port_id AND c.s <= g.s AND g.e <= c.e
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
        g.closed,
        arg_min(i.cause, i.cause_rank) FILTER (WHERE i.cap_kind = 'none') AS uncapped_cause,
        arg_min(i.cause, i.cause_rank) FILTER (WHERE i.cap_kind <> 'none') AS capped_cause,
        arg_min(i.cap_kind, i.cause_rank) FILTER (WHERE i.cap_kind <> 'none') AS cap_kind,
        arg_min(i.cap_us, i.cause_rank) FILTER (WHERE i.cap_kind <> 'none') AS cap_us,
        arg_min(i.s, i.cause_rank) FILTER (WHERE i.cap_kind <> 'none') AS incident_start
    FROM outage_segments AS g
    LEFT JOIN outage_incidents AS i ON i.port_id = g.port_id AND i.s <= g.s AND g.e <= i.e
    GROUP BY g.port_id, g.s, g.e, g.outage_start, g.month_label, g.year_label, g.closed
),
budgeted AS (
    SELECT
        *,
        CASE WHEN cap_kind = 'incident' THEN incident_start::VARCHAR ELSE year_label END AS budget
    FROM covered
    WHERE NOT closed AND uncapped_cause IS NULL AND capped_cause IS NOT NULL
),
capped AS (
    SELECT
        *,
        coalesce(
            sum(e - s) OVER (
                PARTITION BY port_id, capped_cause, budget
                ORDER BY s
                ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
            ),
            0
        ) AS cap_used_before
    FROM budgeted
),
attributed AS (
    SELECT
        c.port_id,
        c.s,
        c.e,
        c.outage_start,
        c.month_label,
        c.e - c.s AS outage_us,
        CASE
            WHEN c.closed THEN 0
            WHEN c.uncapped_cause IS NOT NULL THEN c.e - c.s
            WHEN c.capped_cause IS NOT NULL
                THEN greatest(0, least(c.e - c.s, k.cap_us - k.cap_used_before))
            ELSE 0
        END AS excluded_us,
        CASE WHEN c.closed THEN NULL ELSE coalesce(c.uncapped_cause, c.capped_cause) END AS cause,
        CASE WHEN c.closed THEN c.e - c.s ELSE 0 END AS closed_us,
        k.capped_cause,
        k.cap_kind,
        k.cap_us,
        k.budget,
        k.incident_start
    FROM covered AS c
    LEFT JOIN capped AS k ON k.port_id = c.port_id AND k.s = c.s
)
SELECT
    *,
    CASE WHEN capped_cause IS NOT NULL THEN outage_us - excluded_us ELSE 0 END AS over_cap_us
FROM attributed
