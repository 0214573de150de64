"""CLI commands: emulator."""
