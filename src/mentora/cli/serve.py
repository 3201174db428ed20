"""`mentora serve` (production server) and `mentora dev` (app + emulator + worker, offline)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

import typer
import uvicorn

from mentora.cli.common import fail, settings_or_exit
from mentora.services import Services
from mentora.web.header_deadline import HeaderDeadlineProtocol

DEV_APP_HOST = "localhost"
DEV_ENV_FILE = Path("var") / "mentora-dev.env"
# Named in the env file so `mentora emulator …` finds the dev emulator on any port.
DEV_EMULATOR_URL_VAR = "MENTORA_EMULATOR_URL"
WORKER_HEALTHCHECK_SECONDS = 30


def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes (uvicorn).")] = 1,
    timeout_keep_alive: Annotated[
        int,
        typer.Option(
            min=1,
            help="Close a keep-alive connection idle this many seconds (uvicorn's default, 5). "
            "Behind a proxy that pools upstream connections, set it above the proxy's idle "
            "timeout.",
        ),
    ] = 5,
) -> None:
    """Serve the app with uvicorn (settings from the environment; see the README).

    X-Forwarded-For and -Proto are believed from the peers in TRUSTED_PROXIES only, by the
    app itself; uvicorn's own proxy-header handling stays off (there is no option for it).
    """
    settings = settings_or_exit()
    from mentora.logging import configure_logging

    configure_logging(fmt=settings.log_format, level=settings.log_level)
    uvicorn.run(
        "mentora.asgi:app",
        host=host,
        port=port,
        workers=workers,
        access_log=False,
        proxy_headers=False,
        http=HeaderDeadlineProtocol,  # a directly exposed server must not wait forever
        server_header=False,
        timeout_graceful_shutdown=20,
        timeout_keep_alive=timeout_keep_alive,
        # uvicorn kills a worker that does not answer its supervisor's ping within this many
        # seconds, and its default (5) is shorter than a worker's start on a loaded 2-core
        # machine: workers were killed while importing, restarted, and killed again.
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
        log_config=None,
    )


def dev(
    port: Annotated[int, typer.Option(help="Port for the app.")] = 8000,
    emulator_port: Annotated[int, typer.Option(help="Port for the Whop emulator.")] = 8765,
    database_url: Annotated[
        str, typer.Option(help="Database (SQLite file by default).")
    ] = "sqlite:///var/mentora-dev.db",
) -> None:
    """Run the app, the Whop emulator and the worker together, offline, on SQLite.

    Open http://localhost:8000 and sign in as the demo member; the emulator's controls are at
    http://127.0.0.1:8765 (activate/deactivate the member and watch access change).
    """
    from mentora.config import DEV_API_KEY, DEV_CLIENT_ID, DEV_CLIENT_SECRET, DEV_WEBHOOK_SECRET

    app_url = f"http://{DEV_APP_HOST}:{port}"
    issuer = f"http://127.0.0.1:{emulator_port}"
    overrides = {
        "MENTORA_ENV": "development",
        "APP_URL": app_url,
        "DATABASE_URL": database_url,
        "WHOP_OAUTH_ISSUER": issuer,
        "WHOP_API_BASE_URL": f"{issuer}/api/v1",
        "WHOP_PURCHASE_URL": issuer,
        "WHOP_CLIENT_ID": DEV_CLIENT_ID,
        "WHOP_CLIENT_SECRET": DEV_CLIENT_SECRET,
        "WHOP_API_KEY": DEV_API_KEY,
        "WHOP_WEBHOOK_SECRET": DEV_WEBHOOK_SECRET,
        "WHOP_APP_ID": DEV_CLIENT_ID,
        "WHOP_COMPANY_ID": "biz_demo",
        "EMULATOR_ENABLED": "true",
    }
    settings = settings_or_exit(overrides)
    if settings.is_production:
        fail("`mentora dev` never runs in production")
    for name, host, number in (
        ("app", DEV_APP_HOST, port),
        ("emulator", "127.0.0.1", emulator_port),
    ):
        if not _port_free(host, number):
            option = "--port" if name == "app" else "--emulator-port"
            fail(f"port {number} on {host} is in use (the {name}'s); free it or pass {option}")
    # Authlib refuses http:// token endpoints unless told; only the local emulator is plain http.
    os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"
    write_dev_env(
        DEV_ENV_FILE,
        {**overrides, "AUTHLIB_INSECURE_TRANSPORT": "1", DEV_EMULATOR_URL_VAR: issuer},
    )
    from mentora.logging import configure_logging

    configure_logging(fmt="console", level=settings.log_level)
    from mentora.db.migrate import upgrade

    upgrade(settings.database_url)
    asyncio.run(
        _dev(settings, port=port, emulator_port=emulator_port, issuer=issuer, app_url=app_url)
    )


async def _dev(
    settings: object, *, port: int, emulator_port: int, issuer: str, app_url: str
) -> None:
    from mentora.app import create_app
    from mentora.config import Settings
    from mentora.creators import ensure_configured_creator
    from mentora.emulator import Emulator, EmulatorConfig
    from mentora.heap import freeze_startup_heap
    from mentora.services import build_services

    assert isinstance(settings, Settings)
    emulator = Emulator(
        EmulatorConfig(
            issuer=issuer,
            client_id=settings.whop_client_id,
            client_secret=settings.whop_client_secret.get_secret_value()
            if settings.whop_client_secret
            else "",
            redirect_uris=[settings.redirect_uri],
            api_key=settings.whop_api_key.get_secret_value(),
            webhook_url=f"{app_url}/api/whop/webhooks",
            webhook_secret=settings.webhook_secrets[0],
            seed_demo=True,
        )
    )
    services = build_services(settings)
    await ensure_configured_creator(services, name="Demo Academy")
    app = create_app(settings, services=services)
    freeze_startup_heap()
    servers = [
        uvicorn.Server(
            uvicorn.Config(
                emulator.app,
                host="127.0.0.1",
                port=emulator_port,
                access_log=False,
                log_config=None,
                lifespan="off",
                date_header=False,  # the emulator writes Date from its own clock
            )
        ),
        uvicorn.Server(
            uvicorn.Config(app, host=DEV_APP_HOST, port=port, access_log=False, log_config=None)
        ),
    ]
    typer.secho(f"Mentora:        {app_url}", fg=typer.colors.GREEN)
    typer.secho(
        f"Whop emulator:  {issuer}  (sign in as Ada Member; controls at {issuer}/)",
        fg=typer.colors.GREEN,
    )
    typer.secho(f"CLI against it: set -a; . {DEV_ENV_FILE}; set +a", fg=typer.colors.GREEN)
    tasks = [asyncio.create_task(server.serve()) for server in servers]
    worker_task = _start_worker(services)
    try:
        await asyncio.gather(*tasks)
    finally:
        worker_task.cancel()


def write_dev_env(path: Path, values: Mapping[str, str]) -> None:
    """Write the dev instance's settings as a sourceable env file, for the other commands.

    Only development constants and local addresses: nothing in it is a secret.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["# written by `mentora dev`: the settings of the running dev instance"]
    lines += [f"{name}={value}" for name, value in values.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _port_free(host: str, port: int) -> bool:
    """True when nothing listens on host:port yet."""
    import socket

    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def _start_worker(services: Services) -> asyncio.Task[None]:
    from mentora.worker import run_worker

    return asyncio.create_task(run_worker(services))
