"""Reconcile: the cache compared with a fresh read of MySQL, and its repair."""
