-- The rows of `evlog lake compact`'s per-day rollups (`rollups.py`), replayed over whole local days:
-- per EVSE and day, the time in each status.
SELECT
    e.entity_id AS evse_id,
    s.period_start AS day_start_us,
    s.available_us,
    s.charging_us,
    s.reserved_us,
    s.blocked_us,
    s.inoperative_us,
    s.out_of_order_us,
    s.planned_us,
    s.removed_us,
    s.unknown_us
FROM status_time AS s
JOIN entities AS e USING (entity_key)
ORDER BY s.period_start, e.entity_id
