"""Benchmarks: ``python -m bench.builder | bench.proxy | bench.widget | bench.e2e`` (see README)."""
