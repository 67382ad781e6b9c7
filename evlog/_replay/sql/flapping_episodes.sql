-- Flapping episodes: every run of $flap_count consecutive disconnects whose first and last lie
-- within $flap_window_us (inclusive) spans from its first disconnect to its last reconnect (the end
-- of the last disconnect's offline interval); overlapping or touching spans merge into one episode
-- [episode_start, episode_end) (gaps-and-islands over a running maximum).
WITH flap_runs AS (
    SELECT run_first.entity_id, run_first.disconnect_at AS span_start, run_last.offline_end AS span_end
    FROM disconnects AS run_first
    JOIN disconnects AS run_last
        ON run_last.entity_id = run_first.entity_id
        AND run_last.n = run_first.n + $flap_count - 1
    WHERE run_last.disconnect_at - run_first.disconnect_at <= $flap_window_us
),
flap_reach AS (
    SELECT
        *,
        max(span_end) OVER (
            PARTITION BY entity_id ORDER BY span_start, span_end
            ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
        ) AS reached_before
    FROM flap_runs
),
flap_islands AS (
    SELECT
        *,
        sum(CASE WHEN reached_before >= span_start THEN 0 ELSE 1 END) OVER (
            PARTITION BY entity_id ORDER BY span_start, span_end ROWS UNBOUNDED PRECEDING
        ) AS island
    FROM flap_reach
)
SELECT entity_id, min(span_start) AS episode_start, max(span_end) AS episode_end
FROM flap_islands
GROUP BY entity_id, island
