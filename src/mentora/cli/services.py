"""Running one CLI command against the app's services, closed afterwards."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from mentora.cli.common import current_clock, settings_or_exit
from mentora.config import Settings
from mentora.logging import configure_logging
from mentora.services import Services, build_services

T = TypeVar("T")


def command_settings() -> Settings:
    """Settings for an operator command, with logs redacted and sent to stderr.

    Logging goes to stderr so that what a command prints (tables, JSON reports) can be piped.
    """
    settings = settings_or_exit()
    configure_logging(fmt=settings.log_format, level=settings.log_level)
    return settings


async def with_services(settings: Settings, action: Callable[[Services], Awaitable[T]]) -> T:
    """Build the services, run `action` with them, and release their connections."""
    services = build_services(settings, clock=current_clock())
    try:
        return await action(services)
    finally:
        await services.aclose()
