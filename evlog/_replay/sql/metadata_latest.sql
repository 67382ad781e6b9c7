-- The latest metadata of every station and port (the last run of `metadata_history`): what reports
-- filter and group by. `first_seen` is when these values were first described, `last_seen` the latest.
SELECT *
FROM metadata_history
WHERE latest
