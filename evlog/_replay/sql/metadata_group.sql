-- Which group each port and station falls in for `--group $group_by`: the value of that field of its
-- latest metadata (`metadata_latest`; `rapid`: whether its power is at least $rapid_kw), NULL when the
-- eDRV metadata does not give it (e.g. an EVSE known only from the status feed).
SELECT
    entity_kind,
    entity_id,
    CASE $group_by
        WHEN 'vendor' THEN vendor
        WHEN 'model' THEN model
        WHEN 'firmware' THEN firmware
        WHEN 'protocol' THEN protocol
        WHEN 'connector_type' THEN connector_type
        WHEN 'power_type' THEN power_type
        WHEN 'rapid' THEN CAST(power_kw >= $rapid_kw AS VARCHAR)
    END AS group_value
FROM metadata_latest
