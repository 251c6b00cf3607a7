"""Applies processed batches to a warehouse (DuckDB file or PostgreSQL), idempotently."""
