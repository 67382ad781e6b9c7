-- The metadata of every station and port the eDRV feed described before the window end, as a history:
-- one row per run of the same values (docs/lake.md, "Metadata"), so a firmware update is a new row;
-- `latest` marks each entity's last run.
-- Descriptions are ordered by arrival (rule *Order by event time*'s arrival order: the latest-arriving
-- record says what holds; `connector_index` plays the part of `evse_index`, the position in the record). A record that leaves a field out does not erase it: each field carries its last value
-- forward (IGNORE NULLS) before runs are compared.
WITH carried AS (
    SELECT
        entity_kind,
        entity_id,
        received_at,
        last_value(station_id IGNORE NULLS) OVER arrival AS station_id,
        last_value(location_id IGNORE NULLS) OVER arrival AS location_id,
        last_value(vendor IGNORE NULLS) OVER arrival AS vendor,
        last_value(model IGNORE NULLS) OVER arrival AS model,
        last_value(firmware IGNORE NULLS) OVER arrival AS firmware,
        last_value(serial_number IGNORE NULLS) OVER arrival AS serial_number,
        last_value(protocol IGNORE NULLS) OVER arrival AS protocol,
        last_value(connector_type IGNORE NULLS) OVER arrival AS connector_type,
        last_value(connector_format IGNORE NULLS) OVER arrival AS connector_format,
        last_value(power_kw IGNORE NULLS) OVER arrival AS power_kw,
        last_value(power_type IGNORE NULLS) OVER arrival AS power_type,
        row_number() OVER arrival AS position
    FROM (SELECT *, connector_index AS evse_index FROM entity_metadata) AS described
    WHERE received_at < make_timestamptz($window_end_us)
        AND entity_kind IS NOT NULL
        AND entity_id IS NOT NULL
    WINDOW arrival AS (
        PARTITION BY entity_kind, entity_id ORDER BY {{arrival_order}} ROWS UNBOUNDED PRECEDING
    )
),
changes AS (
    SELECT
        *,
        CASE
            WHEN row(
                station_id, location_id, vendor, model, firmware, serial_number, protocol,
                connector_type, connector_format, power_kw, power_type
            ) IS NOT DISTINCT FROM lag(row(
                station_id, location_id, vendor, model, firmware, serial_number, protocol,
                connector_type, connector_format, power_kw, power_type
            )) OVER (PARTITION BY entity_kind, entity_id ORDER BY position)
            THEN 0 ELSE 1
        END AS starts
    FROM carried
),
runs AS (
    SELECT
        *,
        sum(starts) OVER (
            PARTITION BY entity_kind, entity_id ORDER BY position ROWS UNBOUNDED PRECEDING
        ) AS run
    FROM changes
)
SELECT
    entity_kind,
    entity_id,
    run,
    -- within a run every field has one value
    min(station_id) AS station_id,
    min(location_id) AS location_id,
    min(vendor) AS vendor,
    min(model) AS model,
    min(firmware) AS firmware,
    min(serial_number) AS serial_number,
    min(protocol) AS protocol,
    min(connector_type) AS connector_type,
    min(connector_format) AS connector_format,
    min(power_kw) AS power_kw,
    min(power_type) AS power_type,
    min(received_at) AS first_seen,
    max(received_at) AS last_seen,
    count(*) AS observations,
    run = max(run) OVER (PARTITION BY entity_kind, entity_id) AS latest
FROM runs
GROUP BY entity_kind, entity_id, run
