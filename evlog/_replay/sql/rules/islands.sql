-- Gaps and islands over intervals [s, e): sorted by (s, e), a row starts a new island when it begins
-- after every earlier row of its partition has ended, so overlapping or touching rows share one
-- `island` number; min(s) and max(e) of an island are its merged interval. Concepts read it as
-- `{{islands FROM <relation> BY <partition columns>}}`: <relation>'s rows with `island` added.
SELECT
    *,
    sum(CASE WHEN reached_before >= s THEN 0 ELSE 1 END) OVER (
        PARTITION BY {partition} ORDER BY s, e ROWS UNBOUNDED PRECEDING
    ) AS island
FROM (
    SELECT
        *,
        max(e) OVER (
            PARTITION BY {partition} ORDER BY s, e ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
        ) AS reached_before
    FROM {relation}
) AS reaching
