-- Flapping episodes: every run of $flap_count consecutive disconnects whose first and last lie
-- within $flap_window_us (inclusive) spans from its first disconnect to its last reconnect (the end
-- of the last disconnect's offline interval); overlapping or touching spans merge into one episode
-- [episode_start, episode_end) (the islands rule, `rules/islands.sql`).
WITH flap_runs AS (
    SELECT run_first.entity_id, run_first.disconnect_at AS s, run_last.offline_end AS e
    FROM disconnects AS run_first
    JOIN disconnects AS run_last
        ON run_last.entity_id = run_first.entity_id
        AND run_last.n = run_first.n + $flap_count - 1
    WHERE run_last.disconnect_at - run_first.disconnect_at <= $flap_window_us
),
flap_islands AS (
    {{islands FROM flap_runs BY entity_id}}
)
SELECT entity_id, min(s) AS episode_start, max(e) AS episode_end
FROM flap_islands
GROUP BY entity_id, island
