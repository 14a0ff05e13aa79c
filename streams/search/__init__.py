"""Search and export: bounded scans of a topic's range with a substring or jq filter."""
