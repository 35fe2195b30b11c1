"""Benchmarks: `python -m bench.<name>` commands that print measured figures (never run in tests)."""
