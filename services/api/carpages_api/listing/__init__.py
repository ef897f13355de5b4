"""The listing (`GET /listing/`): query parsing, composition of results in Valkey, the ordered
and reco paths, pins, facets, slugs and the in-process memory of results."""
