-- `metadata_ids` narrowed to the entities the report's replay has (`entities`: an observation before
-- the window end): e.g. which of the ports a reliability report covers have a known power.
SELECT entity_id
FROM metadata_ids
WHERE entity_id IN (SELECT entity_id FROM entities)
