"""Statistics of the claim verdicts: crossed seeds x images tests, seed-level tests, multiplicity
(:mod:`replication.stats.verdicts`) and the smallest detectable effect (:mod:`replication.stats.mde`;
``replication claims --power`` prints it per line). Pure NumPy/SciPy."""
