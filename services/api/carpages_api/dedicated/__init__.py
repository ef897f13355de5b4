"""The dedicated page (`GET /listing/{car_id}/`): one pipelined read, the in-process L1, the
single-flight fill from MySQL on a miss, the pure overlay (paid-field rule) and the response."""
