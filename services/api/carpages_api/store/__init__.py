"""Storage adapters: Valkey clients (pools, cluster, replicas, transactions, tracking, batched
round trips) and the benchmark baseline's direct MySQL reads. No product rules here."""
