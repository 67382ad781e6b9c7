-- The reliability exclusions (`--exclusions`, and under NEVI and CEC the closed time of
-- `--opening-hours`), one row each: the entity (port, location or station) excluded over
-- [start_us, end_us) for a cause of rank cause_rank, capped per incident or per year, with the
-- row's note and where it came from (`FILE:LINE`, for the outage ledger).
-- (Lists join as subqueries: SQLGlot makes a bare `JOIN unnest(...)` a Spark LATERAL VIEW,
-- a cross product that loses `USING (position)`.)
SELECT
    i.entity_id, s.start_us, e.end_us, c.cause, r.cause_rank, k.cap_kind, u.cap_us, n.note, o.source
FROM unnest($exclusion_entity_ids::VARCHAR[]) WITH ORDINALITY AS i(entity_id, position)
JOIN (
    SELECT * FROM unnest($exclusion_starts_us::BIGINT[]) WITH ORDINALITY AS s(start_us, position)
) AS s USING (position)
JOIN (
    SELECT * FROM unnest($exclusion_ends_us::BIGINT[]) WITH ORDINALITY AS e(end_us, position)
) AS e USING (position)
JOIN (
    SELECT * FROM unnest($exclusion_causes::VARCHAR[]) WITH ORDINALITY AS c(cause, position)
) AS c USING (position)
JOIN (
    SELECT *
    FROM unnest($exclusion_cause_ranks::INTEGER[]) WITH ORDINALITY AS r(cause_rank, position)
) AS r USING (position)
JOIN (
    SELECT * FROM unnest($exclusion_cap_kinds::VARCHAR[]) WITH ORDINALITY AS k(cap_kind, position)
) AS k USING (position)
JOIN (
    SELECT * FROM unnest($exclusion_caps_us::BIGINT[]) WITH ORDINALITY AS u(cap_us, position)
) AS u USING (position)
JOIN (
    SELECT * FROM unnest($exclusion_notes::VARCHAR[]) WITH ORDINALITY AS n(note, position)
) AS n USING (position)
JOIN (
    SELECT * FROM unnest($exclusion_sources::VARCHAR[]) WITH ORDINALITY AS o(source, position)
) AS o USING (position)
