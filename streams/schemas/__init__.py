"""Schema Registry access and schema-aware decoding of payloads."""
