"""The `hitcraft` command: `app` (the typer application) and `main` (the console script)."""

from hitcraft_assets.cli.app import app, main

__all__ = ["app", "main"]
