"""The apply role: Kafka -> plans of fenced rebuilds; quarantine; lost-data detection."""
