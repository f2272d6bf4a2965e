"""Business operations: they validate, act, and own the transaction (commit or roll back)."""
