"""Benchmarks of sprinklr-mcp against side-by-side baselines: `python -m bench.run` (see bench/RESULTS.md)."""
