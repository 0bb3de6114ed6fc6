"""Property tests (hypothesis): invariants of assignment, pinning and fail-open evaluation."""
