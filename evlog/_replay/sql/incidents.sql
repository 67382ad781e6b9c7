-- Exclusion incidents: a port's exclusion rows (`port_exclusions`) merged per cause, overlapping or
-- touching rows joining into one incident.
WITH exclusion_rows AS (
    SELECT DISTINCT port_id, cause, cause_rank, cap_kind, cap_us, s, e FROM port_exclusions
),
islands AS (
    {{islands FROM exclusion_rows BY port_id, cause}}
)
SELECT
    port_id,
    cause,
    any_value(cause_rank) AS cause_rank,
    any_value(cap_kind) AS cap_kind,
    any_value(cap_us) AS cap_us,
    min(s) AS s,
    max(e) AS e
FROM islands
GROUP BY port_id, cause, island
