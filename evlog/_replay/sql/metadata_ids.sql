-- The ids of the entities of kind $metadata_kind ('port' or 'station') that the metadata filters keep:
-- what a report's `--rapid`, `--vendor`, `--model`, `--firmware` narrow it to.
SELECT DISTINCT entity_id
FROM metadata_kept
WHERE entity_kind = $metadata_kind
