"""`mentora creators`: the creators Mentora serves, named as Whop names them; list, onboard,
configure, disable. Every change is audited with the CLI actor."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from mentora.cli.common import fail, run
from mentora.cli.services import command_settings, with_services
from mentora.cli.sessions import cli_actor
from mentora.creators import CreatorNotFound, ProfileRefresh, refresh_profiles
from mentora.services import Services
from mentora.usecases.creators import (
    POLICIES,
    CreatorExists,
    CreatorView,
    Onboarded,
    add_creator,
    list_creators,
    set_enabled,
    show_creator,
    update_creator,
)
from mentora.whop.errors import WhopError

app = typer.Typer(help="Creators (Whop companies): their names and settings.", no_args_is_help=True)


@app.command()
def refresh(
    company: Annotated[
        list[str] | None, typer.Option(help="Only this company id (biz_...); repeatable.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Read each creator's name, route and logo from Whop now; exit 1 if Whop could not say."""

    async def action(services: Services) -> list[ProfileRefresh]:
        return await refresh_profiles(services, company_ids=company)

    results = run(with_services(command_settings(), action))
    if as_json:
        rows = [{"company_id": r.company_id, "name": r.name, "error": r.error} for r in results]
        typer.echo(json.dumps(rows, indent=2))
    else:
        for result in results:
            if result.error:
                typer.echo(f"{result.company_id}: kept {result.name!r}; Whop: {result.error}")
            else:
                typer.echo(f"{result.company_id}: {result.name}")
    if any(result.error for result in results):
        raise typer.Exit(1)


CompanyArg = Annotated[str, typer.Argument(help="The creator's company id (biz_...).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _not_found(company_id: str) -> None:
    fail(f"no creator for company {company_id} (see `mentora creators list`)")


def _print(view: CreatorView) -> None:
    state = "enabled" if view.enabled else "disabled"
    typer.echo(f"{view.company_id}: {view.name} ({state})")
    typer.echo(f"  route: {view.route or '-'}")
    typer.echo(f"  alerts to: {view.alerts_to or 'nobody (log only)'}")
    tiers = ", ".join(f"{p}={t}" for p, t in view.tiers.items()) or "-"
    typer.echo(f"  tiers: {tiers}")
    for name, policy in view.policies.items():
        typer.echo(f"  {name}: {str(policy['value']).lower()} ({policy['source']})")


@app.command("list")
def list_(as_json: JsonOpt = False) -> None:
    """Every creator: company id, name, enabled or disabled."""
    views = run(with_services(command_settings(), list_creators))
    if as_json:
        typer.echo(json.dumps([v.as_json() for v in views], indent=2))
        return
    for view in views:
        state = "enabled" if view.enabled else "disabled"
        typer.echo(f"{view.company_id}\t{state}\t{view.name}")


@app.command()
def show(company_id: CompanyArg, as_json: JsonOpt = False) -> None:
    """One creator: profile, alert address, tiers and payment policies (own or default)."""

    async def action(services: Services) -> CreatorView:
        return await show_creator(services, company_id)

    try:
        view = run(with_services(command_settings(), action))
    except CreatorNotFound:
        _not_found(company_id)
    if as_json:
        typer.echo(json.dumps(view.as_json(), indent=2))
    else:
        _print(view)


@app.command()
def add(company_id: CompanyArg, as_json: JsonOpt = False) -> None:
    """Onboard a Whop company: read it from Whop, create it, sync it, and replay its
    deliveries stored as flagged; exit 1 (nothing written) if Whop does not know it."""

    async def action(services: Services) -> Onboarded:
        return await add_creator(services, company_id, actor=cli_actor())

    try:
        done = run(with_services(command_settings(), action))
    except WhopError as exc:
        fail(f"Whop cannot describe company {company_id}: {exc.code}")
    except CreatorExists as exc:
        fail(str(exc))
    if as_json:
        out = {
            **done.creator.as_json(),
            "sync": {"run_id": done.sync.run_id, "outcome": done.sync.outcome},
            "replayed": done.replayed,
        }
        typer.echo(json.dumps(out, indent=2))
    else:
        _print(done.creator)
        typer.echo(f"  sync #{done.sync.run_id}: {done.sync.outcome}")
        typer.echo(f"  flagged deliveries replayed: {len(done.replayed)}")
    if done.sync.outcome != "ok":
        raise typer.Exit(1)


def _tiers(pairs: list[str]) -> dict[str, str]:
    tiers: dict[str, str] = {}
    for pair in pairs:
        product_id, eq, tier = pair.partition("=")
        if not (eq and product_id.strip() and tier.strip()):
            fail(f"--tier takes PRODUCT_ID=TIER, got {pair!r}", 2)
        tiers[product_id.strip()] = tier.strip()
    return tiers


def _policy_option(name: str, help_: str) -> Any:
    flag = name.replace("_", "-")
    return typer.Option(f"--{flag}/--no-{flag}", help=help_)


TierOpt = Annotated[
    list[str] | None,
    typer.Option(
        help="PRODUCT_ID=TIER: that product grants access at TIER; repeatable. Once a "
        "creator has products, stored memberships of other products no longer count."
    ),
]
AlertOpt = Annotated[
    str | None,
    typer.Option(
        help="Where this creator's alerts go (failed payments, dispute alerts, dead "
        "deliveries); an empty value goes back to CREATOR_ALERT_EMAIL."
    ),
]
PausesOpt = Annotated[
    bool | None,
    _policy_option("payment_failed_pauses_access", "Pause a member's access when a payment fails."),
]
RefundOpt = Annotated[
    bool | None,
    _policy_option("refund_revokes_access", "End access when a payment is fully refunded."),
]
DisputeOpt = Annotated[
    bool | None,
    _policy_option("dispute_revokes_access", "Pause access while a dispute is open."),
]
DefaultOpt = Annotated[
    list[str] | None,
    typer.Option(help="Send this policy back to its setting's value; repeatable."),
]


@app.command("set")
def set_(
    company_id: CompanyArg,
    tier: TierOpt = None,
    alert_email: AlertOpt = None,
    payment_failed_pauses_access: PausesOpt = None,
    refund_revokes_access: RefundOpt = None,
    dispute_revokes_access: DisputeOpt = None,
    default_policy: DefaultOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Change a creator's tiers, alert address and payment policies; audited."""
    tiers = _tiers(tier or [])
    policies: dict[str, bool | None] = {name: None for name in default_policy or []}
    for name in default_policy or []:
        if name not in POLICIES:
            fail(f"--default-policy takes one of {', '.join(POLICIES)}, got {name!r}", 2)
    chosen = {
        "payment_failed_pauses_access": payment_failed_pauses_access,
        "refund_revokes_access": refund_revokes_access,
        "dispute_revokes_access": dispute_revokes_access,
    }
    policies.update({name: value for name, value in chosen.items() if value is not None})
    address = alert_email.strip() if alert_email is not None else None
    if not (tiers or policies or alert_email is not None):
        fail("nothing to change: give --tier, --alert-email or a policy option", 2)

    async def action(services: Services) -> CreatorView:
        return await update_creator(
            services,
            company_id,
            actor=cli_actor(),
            tiers=tiers,
            alert_email=address or None,
            clear_alert_email=address == "",
            policies=policies,
        )

    try:
        view = run(with_services(command_settings(), action))
    except CreatorNotFound:
        _not_found(company_id)
    except ValueError as exc:
        fail(str(exc), 2)
    if as_json:
        typer.echo(json.dumps(view.as_json(), indent=2))
    else:
        _print(view)


def _switch(company_id: str, enabled: bool, as_json: bool) -> None:
    async def action(services: Services) -> tuple[CreatorView, dict[str, str]]:
        return await set_enabled(services, company_id, enabled, actor=cli_actor())

    try:
        view, replayed = run(with_services(command_settings(), action))
    except CreatorNotFound:
        _not_found(company_id)
    if as_json:
        typer.echo(json.dumps({**view.as_json(), "replayed": replayed}, indent=2))
    else:
        typer.echo(f"{company_id}: {'enabled' if view.enabled else 'disabled'}")
        if enabled:
            typer.echo(f"  flagged deliveries replayed: {len(replayed)}")


@app.command()
def disable(company_id: CompanyArg, as_json: JsonOpt = False) -> None:
    """Disable a creator: its webhooks are stored flagged (not applied) and its members are
    refused at the gate (`creator_disabled`) until it is enabled again."""
    _switch(company_id, False, as_json)


@app.command()
def enable(company_id: CompanyArg, as_json: JsonOpt = False) -> None:
    """Enable a disabled creator again and replay the deliveries stored flagged meanwhile."""
    _switch(company_id, True, as_json)
