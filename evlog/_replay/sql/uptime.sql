-- uptime: per station and period, online/offline time and outages.
-- An outage is a maximal offline interval (repeated offline events do not split it; a coverage gap or
-- no_data does end it). It is counted in the period where it starts, with its length up to its end or
-- the window end. An outage already in progress at the window start counts in the first period, with
-- its length measured from the window start.
WITH state_time AS (
    SELECT
        entity_id,
        period_start,
        period_end,
        period_end - period_start AS period_us,
        coalesce(sum(duration_us) FILTER (WHERE state = 'no_data'), 0) AS no_data_us,
        coalesce(sum(duration_us) FILTER (WHERE state = 'unobserved'), 0) AS unobserved_us,
        coalesce(sum(duration_us) FILTER (WHERE state = 'online'), 0) AS online_us,
        coalesce(sum(duration_us) FILTER (WHERE state = 'offline'), 0) AS offline_us
    FROM period_pieces
    GROUP BY entity_id, period_start, period_end
),
outages AS (
    SELECT
        i.entity_id,
        p.period_start,
        count(*) AS outages,
        max(i.interval_end - i.interval_start) AS longest_outage_us,
        avg(i.interval_end - i.interval_start) AS mean_outage_us
    FROM intervals AS i
    JOIN periods AS p ON i.interval_start >= p.period_start AND i.interval_start < p.period_end
    WHERE i.state = 'offline'
    GROUP BY i.entity_id, p.period_start
)
SELECT
    s.entity_id AS station_id,
    make_timestamptz(s.period_start) AS period_start,
    make_timestamptz(s.period_end) AS period_end,
    s.no_data_us / 1e6 AS no_data_s,
    s.unobserved_us / 1e6 AS unobserved_s,
    (s.online_us + s.offline_us) / 1e6 AS observed_s,
    s.online_us / 1e6 AS online_s,
    s.offline_us / 1e6 AS offline_s,
    100.0 * s.online_us / nullif(s.online_us + s.offline_us, 0) AS uptime_pct,
    coalesce(o.outages, 0) AS outages,
    o.longest_outage_us / 1e6 AS longest_outage_s,
    o.mean_outage_us / 1e6 AS mttr_s,
    s.online_us / 1e6 / nullif(coalesce(o.outages, 0), 0) AS mtbf_s
FROM state_time AS s
LEFT JOIN outages AS o USING (entity_id, period_start)
ORDER BY station_id, s.period_start
