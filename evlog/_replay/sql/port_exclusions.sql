-- Each exclusion row as it applies to each port it names (`port_targets`): the port's own rows, its
-- location's and its mapped stations'. A row reaching a port through two entities is there twice;
-- its readers count it once (`incidents` merges, the ledger lists distinct rows).
SELECT
    t.port_id, x.cause, x.cause_rank, x.cap_kind, x.cap_us, x.start_us AS s, x.end_us AS e, x.note,
    x.source
FROM exclusions AS x
JOIN port_targets AS t USING (entity_id)
