"""Resumable sweeps stored in SQLite."""
