"""Helpers shared by CLI commands: settings loading with clear errors, running coroutines."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, NoReturn, TypeVar

import typer

from mentora.config import Settings, load_settings
from mentora.errors import ConfigError, MentoraError

T = TypeVar("T")


def fail(message: str, code: int = 1) -> NoReturn:
    """Print one clear error line and exit non-zero (never a traceback)."""
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def settings_or_exit(overrides: dict[str, str] | None = None) -> Settings:
    """Load settings from the environment (and `.env`), exiting with the setting's name if bad."""
    try:
        if overrides:
            import os

            env = {**os.environ, **overrides}
            return load_settings(env)
        return load_settings()
    except ConfigError as exc:
        fail(f"configuration: {exc}", 2)


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine, turning Mentora errors into one-line CLI errors."""
    try:
        return asyncio.run(coro)
    except MentoraError as exc:
        fail(f"{exc.code}: {exc.detail or exc.public_message}")
    except OSError as exc:
        fail(f"{type(exc).__name__}: {exc}")
