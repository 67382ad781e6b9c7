-- Per replayed port and calendar month, the time of the whole days a reliability report takes from
-- `evlog lake compact`'s rollups (`rollups.py`), [$rollup_start_us, $rollup_end_us), instead of
-- replaying them: its outage time, no_data and unobserved (no rows without rollups). The engine uses
-- rollups only for days that no month boundary cuts (the report's periods are its months) and only
-- without exclusions, a station map or --hold-after-gap, so a port's outage time there is its time in
-- the outage states ($outage_states), which never overlap. As in `availability`: unobserved is the
-- coverage gaps, the same for every port (rule *Coverage*), and no_data the rest of the rolled-up
-- time, also for a port without a rollup row that day (rule *Every entity, every period*).
WITH rolled_up AS (
    SELECT
        r.evse_id AS port_id,
        m.month_label,
        sum(
            r.available_us + r.charging_us + r.reserved_us + r.blocked_us + r.inoperative_us
            + r.out_of_order_us + r.planned_us + r.removed_us + r.unknown_us
        ) AS observed_us,
        sum(
            CASE WHEN list_contains($outage_states, 'AVAILABLE') THEN r.available_us ELSE 0 END
            + CASE WHEN list_contains($outage_states, 'CHARGING') THEN r.charging_us ELSE 0 END
            + CASE WHEN list_contains($outage_states, 'RESERVED') THEN r.reserved_us ELSE 0 END
            + CASE WHEN list_contains($outage_states, 'BLOCKED') THEN r.blocked_us ELSE 0 END
            + CASE WHEN list_contains($outage_states, 'INOPERATIVE') THEN r.inoperative_us ELSE 0 END
            + CASE WHEN list_contains($outage_states, 'OUT_OF_ORDER') THEN r.out_of_order_us ELSE 0 END
            + CASE WHEN list_contains($outage_states, 'PLANNED') THEN r.planned_us ELSE 0 END
            + CASE WHEN list_contains($outage_states, 'REMOVED') THEN r.removed_us ELSE 0 END
            + CASE WHEN list_contains($outage_states, 'UNKNOWN') THEN r.unknown_us ELSE 0 END
        ) AS status_outage_us
    FROM status_rollups AS r
    JOIN calendar_months AS m ON r.day_start_us >= m.month_start AND r.day_start_us < m.month_end
    WHERE r.zone = $rollup_zone
        AND r.date BETWEEN $rollup_first_date AND $rollup_last_date
        AND r.day_start_us >= $rollup_start_us
        AND r.day_start_us < $rollup_end_us
    GROUP BY r.evse_id, m.month_label
),
rolled_up_months AS (
    SELECT
        month_label,
        greatest(month_start, $rollup_start_us) AS s,
        least(month_end, $rollup_end_us) AS e
    FROM calendar_months
    WHERE month_start < $rollup_end_us AND month_end > $rollup_start_us
),
month_time AS (
    SELECT
        m.month_label,
        m.e - m.s AS rolled_up_us,
        -- a month without gaps has one row of NULLs (least and greatest would skip them)
        coalesce(sum(
            CASE WHEN g.gap_start IS NOT NULL THEN least(g.gap_end, m.e) - greatest(g.gap_start, m.s) END
        ), 0) AS unobserved_us
    FROM rolled_up_months AS m
    LEFT JOIN coverage_gaps AS g ON g.gap_start < m.e AND g.gap_end > m.s
    GROUP BY m.month_label, m.s, m.e
),
port_time AS (
    SELECT
        e.entity_id AS port_id,
        t.month_label,
        coalesce(r.status_outage_us, 0) AS status_outage_us,
        t.rolled_up_us - t.unobserved_us - coalesce(r.observed_us, 0) AS no_data_us,
        t.unobserved_us
    FROM entities AS e
    CROSS JOIN month_time AS t
    LEFT JOIN rolled_up AS r ON r.port_id = e.entity_id AND r.month_label = t.month_label
)
SELECT
    port_id,
    month_label,
    status_outage_us AS outage_us,
    no_data_us,
    unobserved_us
FROM port_time
