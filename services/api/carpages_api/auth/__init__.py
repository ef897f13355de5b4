"""Who is asking: bearer JWTs verified (and remembered) into an Identity. No I/O, no HTTP."""
