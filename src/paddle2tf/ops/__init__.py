"""Per-op converters, one module per op family. Every module here is imported by the registry."""
