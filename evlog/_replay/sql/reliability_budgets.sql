-- The audit of the capped exclusions (CEC: vandalism up to 10 days per incident, planned maintenance
-- up to 72 hours per calendar year): one row per budget a report month's basis touches, a port's
-- incident or a port's year of one capped cause, with its cap, what its outages used of it up to
-- $range_end (consumed in time order from the incident's start or from 1 January, so before the
-- report months too), what is left, the outage minutes it no longer covered (counted as outage), and
-- the exclusion rows (`FILE:LINE`) that make it.
WITH years AS (
    SELECT year_label, min(month_start) AS year_start, max(month_end) AS year_end
    FROM calendar_months
    GROUP BY year_label
),
budgets AS (
    SELECT
        i.port_id, i.cause, i.cap_kind, i.cap_us, i.s AS incident_start, i.e AS incident_end,
        NULL AS year_label, i.s AS s, i.e AS e
    FROM incidents AS i
    WHERE i.cap_kind = 'incident'
    UNION ALL
    SELECT DISTINCT
        i.port_id, i.cause, i.cap_kind, i.cap_us, NULL, NULL, y.year_label, y.year_start,
        y.year_end
    FROM incidents AS i
    JOIN years AS y ON i.s < y.year_end AND i.e > y.year_start
    WHERE i.cap_kind = 'year'
),
shown AS (
    SELECT b.*
    FROM budgets AS b
    WHERE b.s < $range_end AND b.e > (SELECT min(basis_start) FROM report_months)
),
budget_use AS (
    SELECT
        b.port_id,
        b.cause,
        b.s,
        coalesce(sum(a.excluded_us), 0) AS used_us,
        coalesce(sum(a.over_cap_us), 0) AS over_cap_us
    FROM shown AS b
    LEFT JOIN attributed_segments AS a
        ON a.port_id = b.port_id
        AND a.capped_cause = b.cause
        AND (
            (b.cap_kind = 'incident' AND a.incident_start = b.incident_start)
            OR (b.cap_kind = 'year' AND a.budget = b.year_label)
        )
    GROUP BY b.port_id, b.cause, b.s
),
budget_rows AS (
    SELECT
        b.port_id,
        b.cause,
        b.s,
        nullif(
            array_to_string(list_sort(list_distinct(list(x.source) FILTER (WHERE x.source <> ''))), ';'),
            ''
        ) AS excluded_by
    FROM shown AS b
    JOIN port_exclusions AS x
        ON x.port_id = b.port_id AND x.cause = b.cause AND x.s < b.e AND x.e > b.s
    GROUP BY b.port_id, b.cause, b.s
)
SELECT
    b.port_id,
    p.station_id,
    b.cause,
    b.cap_kind,
    b.incident_start AS incident_start_us,
    b.incident_end AS incident_end_us,
    b.year_label AS budget_year,
    b.cap_us / 60e6 AS cap_min,
    u.used_us / 60e6 AS used_min,
    greatest(0, b.cap_us - u.used_us) / 60e6 AS left_min,
    u.over_cap_us / 60e6 AS over_cap_min,
    r.excluded_by
FROM shown AS b
JOIN port_ids AS p USING (port_id)
JOIN budget_use AS u ON u.port_id = b.port_id AND u.cause = b.cause AND u.s = b.s
LEFT JOIN budget_rows AS r ON r.port_id = b.port_id AND r.cause = b.cause AND r.s = b.s
ORDER BY b.port_id, b.cause, b.s
