"""Thin layer over confluent-kafka: client configuration, delivery tracking and end offsets."""
