"""carpages API: the dedicated page and the listing, answered from Valkey.

Packages, edge to core: `web` (routes, the two ASGI lanes, the caller), `dedicated` (one car's
page), `listing` (filtered listings), `reco` (the ranker), `store` (Valkey and MySQL clients).
`bootstrap` builds the typed `Services` every request uses; docs/architecture.md has the map.
"""
