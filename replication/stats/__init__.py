"""Statistics of the claim verdicts: crossed seeds x images tests, seed-level tests, multiplicity
(:mod:`replication.stats.verdicts`), the smallest detectable effect (:mod:`replication.stats.mde`) and
the power table of a committed study (:mod:`replication.stats.power`). Pure NumPy/SciPy."""
