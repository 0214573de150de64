"""CLI commands: prompt."""
