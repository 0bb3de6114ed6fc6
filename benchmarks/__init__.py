"""Benchmarks: each module runs with ``uv run --frozen python -m benchmarks.<name>``."""
