"""CLI commands: batch."""
