"""Store tests: one contract suite, run against every backend."""
