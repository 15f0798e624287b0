"""Benchmarks and developer scripts (run with ./scripts/python; not installed)."""
