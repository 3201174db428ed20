"""Helpers shared by CLI commands: settings loading with clear errors, running coroutines."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, NoReturn, TypeVar

import typer

from mentora.clock import Clock, SystemClock
from mentora.config import Settings, load_settings
from mentora.errors import ConfigError, MentoraError

T = TypeVar("T")


@dataclass
class CliContext:
    """What every command shares, handed in as Click's context object.

    The clock is here so that a caller (a test with a frozen clock) can run a command in its
    own notion of time: `CliRunner().invoke(app, args, obj=CliContext(clock=...))`.
    """

    clock: Clock = field(default_factory=SystemClock)


_clock: ContextVar[Clock | None] = ContextVar("mentora_cli_clock", default=None)


def use_context(given: object) -> None:
    """Adopt the context object a caller handed in (the root command calls this first)."""
    if isinstance(given, CliContext):
        _clock.set(given.clock)


def current_clock() -> Clock:
    """The clock of the running command (the real one unless the caller handed in another)."""
    return _clock.get() or SystemClock()


def fail(message: str, code: int = 1) -> NoReturn:
    """Print one clear error line and exit non-zero (never a traceback)."""
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def settings_or_exit(overrides: dict[str, str] | None = None, *, check: bool = True) -> Settings:
    """Load settings from the environment (and `.env`), exiting with the setting's name if bad.

    `check=False` only refuses settings of the wrong type (see `load_settings`)."""
    try:
        if overrides:
            import os

            env = {**os.environ, **overrides}
            return load_settings(env, check=check)
        return load_settings(check=check)
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
