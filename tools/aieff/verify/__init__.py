"""Re-estimation from an entry's artifacts: fetching, caching, the sandbox, counting, logs, the verification record."""
