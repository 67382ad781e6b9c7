-- Rule *Order by event time*: the arrival order that breaks ties between observations of one entity
-- at one event_time, earliest arrival first. A row lacking an arrival column sorts after the rows
-- that have it. Concepts read it as `{{arrival_order}}` (first arrival first) or
-- `{{arrival_order DESC}}` (latest arrival first: the exact reverse, NULLs first).
received_at ASC NULLS LAST, arrival_index ASC NULLS LAST, evse_index ASC NULLS LAST, record_key ASC NULLS LAST
