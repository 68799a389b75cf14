-- The light decoder's figures behind each attempt's verdict (issue #9: explainable verdicts): the
-- rule that decided, the sequence test's rank and p-value, the relief test's figures, as JSON.
ALTER TABLE attempts ADD COLUMN verdict TEXT;
