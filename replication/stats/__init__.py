"""Statistics of the claim verdicts: crossed seeds x images tests, seed-level tests, multiplicity and
power (:mod:`replication.stats.verdicts`, :mod:`replication.stats.power`). Pure NumPy/SciPy."""
