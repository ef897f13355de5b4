"""`make chaos`: faults injected while realistic writes run, and an independent oracle that
checks the cache converges (see RELIABILITY.md)."""
