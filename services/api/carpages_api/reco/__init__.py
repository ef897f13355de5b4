"""Recommendation serving: the Ranker interface, popularity, and the LightFM model ranker
(loaded from Valkey, kept in sync by pub/sub; numpy only)."""
