"""CLI commands: versioning."""
