"""Audit: the hash-chained history, its verification, replay, export and search."""
