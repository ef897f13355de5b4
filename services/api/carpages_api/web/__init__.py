"""HTTP edge: routes, the two ASGI lanes that answer hot requests without routing, the
caller's identity and id parameters. Thin: each endpoint calls one service."""
