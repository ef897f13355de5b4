"""The publish role: binlog -> Kafka (reader thread, in-flight window, checkpoint, lease)."""
