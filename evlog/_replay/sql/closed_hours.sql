-- `--opening-hours` under UK PCPR: the time each entity (port, location or station) cannot be
-- accessed, [start_us, end_us), computed in Python over the query's range from the file's weekly
-- hours and exceptional openings and closings (reg. 7(5): that time leaves the basis).
-- (Lists join as subqueries: SQLGlot makes a bare `JOIN unnest(...)` a Spark LATERAL VIEW,
-- a cross product that loses `USING (position)`.)
SELECT i.entity_id, s.start_us, e.end_us
FROM unnest($closed_entity_ids::VARCHAR[]) WITH ORDINALITY AS i(entity_id, position)
JOIN (
    SELECT * FROM unnest($closed_starts_us::BIGINT[]) WITH ORDINALITY AS s(start_us, position)
) AS s USING (position)
JOIN (
    SELECT * FROM unnest($closed_ends_us::BIGINT[]) WITH ORDINALITY AS e(end_us, position)
) AS e USING (position)
