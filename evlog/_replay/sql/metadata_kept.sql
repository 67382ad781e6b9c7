-- The latest metadata (`metadata_latest`) of the stations and ports the metadata filters keep:
-- `--rapid` keeps a power of at least $rapid_kw (a port whose power was never described is not kept),
-- `--vendor`, `--model`, `--firmware` keep the values listed (compared in lower case; an empty list
-- keeps every value, an entity without the field none).
SELECT *
FROM metadata_latest
WHERE (NOT $rapid_only OR power_kw >= $rapid_kw)
    AND (len($vendors::VARCHAR[]) = 0 OR list_contains($vendors::VARCHAR[], lower(vendor)))
    AND (len($models::VARCHAR[]) = 0 OR list_contains($models::VARCHAR[], lower(model)))
    AND (len($firmwares::VARCHAR[]) = 0 OR list_contains($firmwares::VARCHAR[], lower(firmware)))
