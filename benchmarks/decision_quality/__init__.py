"""Decision quality of rampgate.stats, in full: every figure printed beside its goal.

    uv run --frozen python -m benchmarks.decision_quality            # about two minutes
    uv run --frozen python -m benchmarks.decision_quality --scale 0.1 # a quick smoke run

The fast versions of the same checks run in ``tests/stats``; these use more runs, more looks and
more scenarios. Agreement and timing need ``.venv-gbstats`` (``scripts/gbstats-venv``).
"""
