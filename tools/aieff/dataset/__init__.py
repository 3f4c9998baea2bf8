"""Loading and validating entries: YAML, the schema and what is generated from it, cross-entry and editorial checks."""
