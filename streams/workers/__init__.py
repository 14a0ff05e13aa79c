"""Managed consumers: handlers, their registry, the runner behind ``runconsumers`` and its per-broker loops."""
