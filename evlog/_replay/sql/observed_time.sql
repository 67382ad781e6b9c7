-- Time in each observed state per entity and period. no_data and unobserved are left out: they are the
-- rest of the period (unobserved is the same for every entity: the coverage gaps).
SELECT entity_key, period_start, state, sum(duration_us) AS duration_us
FROM period_pieces
WHERE state NOT IN ('no_data', 'unobserved')
GROUP BY entity_key, period_start, state
