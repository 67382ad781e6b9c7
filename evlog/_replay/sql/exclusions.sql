-- The reliability exclusions (`--exclusions`, and under NEVI and CEC the closed time of
-- `--opening-hours`), one row each: the entity (port, location or station) excluded over
-- [start_us, end_us) for a cause of rank cause_rank, capped per incident or per year, with the row's
-- note and where it came from (`FILE:LINE`, for the outage ledger).
SELECT i.entity_id, s.start_us, e.end_us, c.cause, r.cause_rank, k.cap_kind, u.cap_us, n.note, o.source
FROM unnest($exclusion_entity_ids::VARCHAR[]) WITH ORDINALITY AS i(entity_id, position)
JOIN unnest($exclusion_starts_us::BIGINT[]) WITH ORDINALITY AS s(start_us, position) USING (position)
JOIN unnest($exclusion_ends_us::BIGINT[]) WITH ORDINALITY AS e(end_us, position) USING (position)
JOIN unnest($exclusion_causes::VARCHAR[]) WITH ORDINALITY AS c(cause, position) USING (position)
JOIN unnest($exclusion_cause_ranks::INTEGER[]) WITH ORDINALITY AS r(cause_rank, position)
    USING (position)
JOIN unnest($exclusion_cap_kinds::VARCHAR[]) WITH ORDINALITY AS k(cap_kind, position)
    USING (position)
JOIN unnest($exclusion_caps_us::BIGINT[]) WITH ORDINALITY AS u(cap_us, position) USING (position)
JOIN unnest($exclusion_notes::VARCHAR[]) WITH ORDINALITY AS n(note, position) USING (position)
JOIN unnest($exclusion_sources::VARCHAR[]) WITH ORDINALITY AS o(source, position) USING (position)
