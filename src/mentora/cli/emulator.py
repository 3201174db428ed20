"""`mentora emulator`: run the local Whop emulator, or drive a running one.

`serve` starts it; every other command talks to a running emulator over its admin API
(`--url`), so they work against one started in another terminal or by a test.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, NoReturn

import httpx
import typer
from dotenv import dotenv_values
from rich.console import Console
from rich.table import Table

from mentora.cli.serve import DEV_EMULATOR_URL_VAR, DEV_ENV_FILE

app = typer.Typer(
    help="A local stand-in for Whop (OAuth, REST, webhooks) for development and tests.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
membership_app = typer.Typer(
    help="Change a membership; the emulator sends the matching webhook.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(membership_app, name="membership")

DEFAULT_URL = "http://127.0.0.1:8765"
UrlOption = Annotated[
    str | None,
    typer.Option(
        "--url",
        envvar="MENTORA_EMULATOR_URL",
        help="Base URL of the running emulator (default: the one `mentora dev` started here, "
        f"named in {DEV_ENV_FILE}, else {DEFAULT_URL}).",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the raw JSON answer.")]


def _fail(message: str, code: int) -> NoReturn:
    """Print a one-line error to stderr and exit with `code` (1 unreachable, 2 refused)."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def emulator_url(given: str | None) -> str:
    """The emulator to talk to: `--url` (or MENTORA_EMULATOR_URL), else the one a `mentora
    dev` started from this folder runs (its env file names it, on whatever port), else the
    default port."""
    if given:
        return given
    if DEV_ENV_FILE.is_file():
        named = dotenv_values(DEV_ENV_FILE).get(DEV_EMULATOR_URL_VAR)
        if named:
            return named
    return DEFAULT_URL


def _admin(given: str | None, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """Call the admin API; turn every failure into a clear one-line error."""
    url = emulator_url(given)
    target = f"{url.rstrip('/')}/_emulator/admin{path}"
    try:
        response = httpx.request(method, target, json=body, timeout=10.0)
    except httpx.HTTPError as exc:
        _fail(
            f"cannot reach the Whop emulator at {url} ({type(exc).__name__}); "
            "start it with `mentora emulator serve`",
            1,
        )
    try:
        data = response.json()
    except ValueError:
        _fail(f"{url} answered {response.status_code} without JSON; is it the emulator?", 1)
    if response.status_code >= 400:
        error = data.get("error") if isinstance(data, dict) else None
        message = error.get("message") if isinstance(error, dict) else None
        _fail(message or f"the emulator answered {response.status_code}", 2)
    return data


def _print_json(data: Any) -> None:
    """Print JSON for scripts."""
    typer.echo(json.dumps(data, indent=2))


def _table(title: str, columns: list[str], rows: list[list[str]]) -> None:
    """Print a table for people."""
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    Console().print(table)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8765,
    issuer: Annotated[
        str | None, typer.Option(help="OIDC issuer / base URL (default http://HOST:PORT).")
    ] = None,
    webhook_url: Annotated[
        str | None, typer.Option(help="Where to POST signed webhooks (omit to only log them).")
    ] = None,
    webhook_secret: Annotated[
        str | None,
        typer.Option(help="Whop-style ws_ secret, HMAC key = its raw bytes (default: demo)."),
    ] = None,
    client_id: Annotated[
        str | None, typer.Option(help="OAuth client id = Whop app id (default: app_demo).")
    ] = None,
    client_secret: Annotated[
        str | None, typer.Option(help="OAuth client secret (default: the demo one).")
    ] = None,
    redirect_uri: Annotated[
        list[str] | None,
        typer.Option(help="Registered redirect URI (exact match); repeat for several."),
    ] = None,
    api_key: Annotated[
        str | None, typer.Option(help="App API key accepted on the REST API (default: demo).")
    ] = None,
    confidential: Annotated[
        bool, typer.Option(help="Require client_secret at the token endpoint.")
    ] = False,
    seed: Annotated[
        bool, typer.Option(help="Create the demo companies, users and memberships.")
    ] = True,
) -> None:
    """Run the emulator with uvicorn until interrupted."""
    # Imported here so that every other `mentora` command starts without the emulator.
    import uvicorn

    from mentora.emulator import Emulator, EmulatorConfig

    config = EmulatorConfig(
        issuer=issuer or f"http://{host}:{port}",
        webhook_url=webhook_url,
        seed_demo=seed,
        confidential=confidential,
    )
    # Unset options keep EmulatorConfig's demo defaults (one source of truth).
    if client_id:
        config.client_id = client_id
    if client_secret:
        config.client_secret = client_secret
    if redirect_uri:
        config.redirect_uris = list(redirect_uri)
    if api_key:
        config.api_key = api_key
    if webhook_secret:
        config.webhook_secret = webhook_secret
    emulator = Emulator(config)
    typer.echo(f"Whop emulator at {config.issuer} (control page: {config.issuer}/)")
    # The emulator writes Date from its own clock; uvicorn's would be a second one.
    uvicorn.run(emulator.app, host=host, port=port, log_level="info", date_header=False)


@app.command()
def users(url: UrlOption = None, as_json: JsonOption = False) -> None:
    """List the emulator's users."""
    data = _admin(url, "GET", "/users")["data"]
    if as_json:
        _print_json(data)
        return
    rows = [[u["id"], u["username"], u["name"], u["email"]] for u in data]
    _table("Users", ["id", "username", "name", "email"], rows)


@app.command()
def memberships(url: UrlOption = None, as_json: JsonOption = False) -> None:
    """List every membership with its status."""
    data = _admin(url, "GET", "/memberships")["data"]
    if as_json:
        _print_json(data)
        return
    rows = [
        [
            m["id"],
            m["user_id"] or "",
            m["product_id"],
            m["status"],
            "yes" if m["cancel_at_period_end"] else "no",
        ]
        for m in data
    ]
    _table("Memberships", ["id", "user", "product", "status", "cancel at period end"], rows)


def _membership_action(url: str | None, membership_id: str, action: str, as_json: bool) -> None:
    """Apply a named action and report the webhooks it sent."""
    data = _admin(url, "POST", f"/memberships/{membership_id}/actions/{action}")
    if as_json:
        _print_json(data)
        return
    sent = ", ".join(f"{w['type']} ({w['webhook_id']})" for w in data["webhooks_sent"])
    status = data["membership"]["status"]
    typer.echo(f"{membership_id}: {status}; webhooks: {sent or 'none (nothing changed)'}")


MembershipId = Annotated[str, typer.Argument(help="Membership id (mem_...).")]


@membership_app.command()
def activate(
    membership_id: MembershipId, url: UrlOption = None, as_json: JsonOption = False
) -> None:
    """Set the membership active (sends membership.activated if it was invalid)."""
    _membership_action(url, membership_id, "activate", as_json)


@membership_app.command()
def deactivate(
    membership_id: MembershipId, url: UrlOption = None, as_json: JsonOption = False
) -> None:
    """Expire the membership (sends membership.deactivated if it was valid)."""
    _membership_action(url, membership_id, "deactivate", as_json)


@membership_app.command()
def cancel(
    membership_id: MembershipId,
    at_period_end: Annotated[
        bool, typer.Option("--at-period-end", help="Only set cancel_at_period_end.")
    ] = False,
    url: UrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Cancel now (membership.deactivated) or at period end (cancel_at_period_end_changed)."""
    action = "cancel-at-period-end" if at_period_end else "cancel"
    _membership_action(url, membership_id, action, as_json)


@app.command()
def trigger(
    event: Annotated[str, typer.Argument(help="Event type, e.g. payment.succeeded.")],
    user: Annotated[str, typer.Option("--user", help="User id the event is about.")],
    membership: Annotated[
        str | None, typer.Option("--membership", help="Membership id (default: newest).")
    ] = None,
    status: Annotated[
        str | None, typer.Option("--status", help="Refund or dispute status to send.")
    ] = None,
    amount: Annotated[
        str | None, typer.Option("--amount", help="Refunded amount (default: all of it).")
    ] = None,
    legacy: Annotated[
        bool, typer.Option("--legacy", help="Send the legacy {action, data} envelope.")
    ] = False,
    url: UrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Send one webhook event (like `stripe trigger`), updating state to match."""
    body: dict[str, Any] = {"type": event, "user_id": user}
    optional = {"membership_id": membership, "status": status, "amount": amount}
    body.update({key: value for key, value in optional.items() if value})
    if legacy:
        body["legacy"] = True
    data = _admin(url, "POST", "/trigger", body)
    if as_json:
        _print_json(data)
        return
    typer.echo(f"sent {data['type']} ({data['webhook_id']})")


@app.command()
def webhooks(
    limit: Annotated[int, typer.Option(help="Show the newest N.")] = 20,
    url: UrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show the webhook send log: id, type, each attempt's status, and the outcome."""
    data = _admin(url, "GET", "/webhooks")["data"][-limit:]
    if as_json:
        _print_json(data)
        return
    rows = [
        [
            w["webhook_id"],
            w["type"],
            w["outcome"],
            " ".join(str(a["status_code"] or a["error"]) for a in w["attempts"]),
        ]
        for w in data
    ]
    _table("Webhooks", ["webhook-id", "type", "outcome", "attempts"], rows)


@app.command()
def token(
    user_id: Annotated[str, typer.Argument(help="User id (user_...).")],
    app_id: Annotated[str | None, typer.Option(help="aud claim (default: the client id).")] = None,
    expires_in: Annotated[int, typer.Option(help="Lifetime in seconds.")] = 300,
    url: UrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Mint an x-whop-user-token (iframe mode) and print it."""
    body: dict[str, Any] = {"expires_in": expires_in}
    if app_id:
        body["app_id"] = app_id
    data = _admin(url, "POST", f"/users/{user_id}/token", body)
    if as_json:
        _print_json(data)
        return
    typer.echo(data["token"])


@app.command()
def reset(url: UrlOption = None) -> None:
    """Reset the emulator to its starting data (signing keys are kept)."""
    _admin(url, "POST", "/reset")
    typer.echo("reset")
