"""Helpers shared by CLI commands: settings loading with clear errors, running coroutines."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, NoReturn, TypeVar

import typer
from sqlalchemy.exc import SQLAlchemyError
from typer.core import TyperGroup

from mentora.clock import Clock, SystemClock
from mentora.config import Settings, load_settings
from mentora.db.engine import describe_error
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
    """Run a coroutine to completion (errors become one line in `OneLineErrors`)."""
    return asyncio.run(coro)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def describe(exc: Exception) -> tuple[str, int]:
    """The one line and exit code an exception becomes at the command line."""
    if isinstance(exc, typer.TyperException):  # usage errors: a bad option, a missing value
        ctx = getattr(exc, "ctx", None)
        where = ctx.command_path if ctx is not None else "mentora"
        return f"{exc.format_message()} (see `{where} --help`)", exc.exit_code
    if isinstance(exc, ConfigError):
        return f"configuration: {exc}", 2
    if isinstance(exc, MentoraError):
        return f"{exc.code}: {exc.detail or exc.public_message}", 1
    if isinstance(exc, SQLAlchemyError):
        # The driver's own message names the host and the cause; the SQL and the
        # parameters after it are left out (they may carry user data), and any password.
        return f"database: {describe_error(exc)}", 1
    if isinstance(exc, OSError):
        return f"{type(exc).__name__}: {_first_line(exc)}", 1
    return f"unexpected {type(exc).__name__}: {_first_line(exc)}", 1


class OneLineErrors(TyperGroup):
    """The root command group: whatever a command raises ends as one line on stderr and a
    non-zero exit, never a traceback (README "Commands")."""

    # `ctx` is typer's vendored click Context, whose class typer keeps private.
    def invoke(self, ctx: Any) -> Any:
        """Run the chosen command; turn any error but a deliberate exit into one line."""
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort):
            raise
        except typer.TyperException as exc:
            # A group called without a command shows its help; typer itself tells this
            # error apart by name (rich_utils), its class being private.
            if type(exc).__name__ == "NoArgsIsHelpError":
                raise
            message, code = describe(exc)
            fail(message, code)
        except Exception as exc:  # the last line of defence: one line, never a traceback
            message, code = describe(exc)
            fail(message, code)
