"""Benchmarks (print figures; not timed tests). Run from the repo root: `python -m bench.transform`."""
