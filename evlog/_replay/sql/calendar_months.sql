-- Every calendar month a reliability query reads, [month_start, month_end) in the report's time zone,
-- from the local midnights computed in Python ($month_bounds: one more than $month_labels).
SELECT l.month_label, substr(l.month_label, 1, 4) AS year_label, b.month_start, b.month_end
FROM unnest($month_labels::VARCHAR[]) WITH ORDINALITY AS l(month_label, position)
JOIN (
    SELECT position, bound AS month_start, lead(bound) OVER (ORDER BY position) AS month_end
    FROM unnest($month_bounds::BIGINT[]) WITH ORDINALITY AS m(bound, position)
) AS b USING (position)
