-- Percent state change, as Nagios and Icinga compute it, after each observation `k` (1, 2, ...) of
-- a station: over its last 21 observations, the state changes weighted linearly from 0.75 for the
-- oldest to 1.25 for the newest, as a percentage of the 20 possible; with hysteresis, the station
-- starts flapping when it exceeds $flap_high_pct and stops when it drops below $flap_low_pct.
WITH state_changes AS (
    -- Nagios keeps the last 21 check results; here every observation (a webhook or a poll snapshot,
    -- repeats included) is one result, taken over the station's whole history before the window end.
    SELECT
        entity_id,
        t,
        row_number() OVER by_time AS k,
        CASE WHEN state <> lag(state) OVER by_time THEN 1 ELSE 0 END AS changed
    FROM observations
    WINDOW by_time AS (PARTITION BY entity_id ORDER BY t)
),
change_sums AS (
    -- The change into observation k, seen from observation j (the newest of 21 states), weighs
    -- 0.75 + (k - j + 19) / 38; the sum over the 20 changes is 0.75 * S0 + (S1 - (j - 19) * S0) / 38 with
    -- S0 = number of changes and S1 = sum of their k. Times 76 it is an integer: exact comparisons.
    SELECT
        entity_id,
        t,
        k,
        sum(changed) OVER last_20 AS s0,
        sum(changed * k) OVER last_20 AS s1
    FROM state_changes
    WINDOW last_20 AS (PARTITION BY entity_id ORDER BY t ROWS BETWEEN 19 PRECEDING AND CURRENT ROW)
),
percent_changes AS (
    SELECT entity_id, t, k, 57 * s0 + 2 * (s1 - (k - 19) * s0) AS weighted_changes_x76
    FROM change_sums
),
flap_marks AS (
    -- percent = weighted changes / 20 * 100 = weighted_changes_x76 * 5 / 76
    SELECT
        entity_id,
        t,
        k,
        weighted_changes_x76 * 5.0 / 76 AS percent_state_change,
        max(CASE WHEN weighted_changes_x76 * 5 > $flap_high_pct * 76 THEN k END)
            OVER (PARTITION BY entity_id ORDER BY t ROWS UNBOUNDED PRECEDING) AS last_high,
        max(CASE WHEN weighted_changes_x76 * 5 < $flap_low_pct * 76 THEN k END)
            OVER (PARTITION BY entity_id ORDER BY t ROWS UNBOUNDED PRECEDING) AS last_low
    FROM percent_changes
)
SELECT entity_id, t, k, percent_state_change, coalesce(last_high > coalesce(last_low, 0), FALSE)
    AS is_flapping
FROM flap_marks
