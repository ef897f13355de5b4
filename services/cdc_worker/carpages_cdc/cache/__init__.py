"""Building cache entries: MySQL batch reads, Valkey writes, the full rebuild and its lock."""
