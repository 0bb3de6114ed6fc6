"""In-process agent protection: shadow runs, circuit breaker, router, rate limit, budget.

Imports ``domain`` only; the SDK builds on it.
"""
