"""Conversion pipeline for CI/CD: a declarative YAML file of models, each converted and verified in its own
worker process, the passing ones published to a TF Serving model repository, failures alerted.

Modules: ``config`` (the YAML schema, validated with line numbers), ``runner`` (workers, timeouts, summary),
``repository`` (atomic, locked, idempotent publishing in TF Serving layout), ``alerts`` (webhooks, file,
command). See docs/pipeline.md.
"""
