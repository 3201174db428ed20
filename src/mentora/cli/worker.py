"""`mentora worker`: webhook retries, outbox sending and scheduled reconciliation."""

from __future__ import annotations

import asyncio
import signal
from typing import Annotated

import typer

from mentora.cli.common import run
from mentora.cli.services import command_settings, with_services
from mentora.outbox.mailer import build_mailer
from mentora.services import Services
from mentora.worker import DEFAULT_INTERVAL_SECONDS, LoopReport, run_once, run_worker, worker_name


def worker(
    once: Annotated[bool, typer.Option(help="Do one pass and exit.")] = False,
    interval: Annotated[
        float, typer.Option(min=0.5, help="Seconds between passes.")
    ] = DEFAULT_INTERVAL_SECONDS,
) -> None:
    """Run the background worker until SIGINT/SIGTERM (or one pass with --once)."""
    settings = command_settings()
    if once:

        async def one(services: Services) -> LoopReport:
            return await run_once(services, build_mailer(services.settings), name=worker_name())

        report = run(with_services(settings, one))
        typer.echo(
            f"webhooks: {report.webhooks.counts or {}}, sent: {report.outbox.sent}, "
            f"sync: {report.sync.outcome if report.sync else 'not due'}"
        )
        return

    async def forever(services: Services) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_worker(services, interval=interval, stop=stop)

    run(with_services(settings, forever))
