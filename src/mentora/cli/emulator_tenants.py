"""`mentora emulator companies|company|experiences|experience`: creators' worlds in the emulator.

Companies (with their team of admins) and experiences, so a second creator can be set up by
hand and its app opened at `/experiences/{exp_id}`. Like the other client commands they talk
to a running emulator over its admin API.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from mentora.cli.emulator import JsonOption, UrlOption, _admin, _print_json, _table
from mentora.cli.emulator import app as emulator_app

company_app = typer.Typer(
    help="Create a company or add an admin to its team.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
experience_app = typer.Typer(
    help="Create an experience (where Whop runs the app) in a company.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
emulator_app.add_typer(company_app, name="company")
emulator_app.add_typer(experience_app, name="experience")

CompanyId = Annotated[str, typer.Argument(help="Company id (biz_...).")]


@emulator_app.command()
def companies(url: UrlOption = None, as_json: JsonOption = False) -> None:
    """List the emulator's companies with their team."""
    data = _admin(url, "GET", "/companies")["data"]
    if as_json:
        _print_json(data)
        return
    rows = [[c["id"], c["name"], c["route"], ", ".join(c["admin_user_ids"])] for c in data]
    _table("Companies", ["id", "name", "route", "team (admins)"], rows)


@company_app.command("add")
def add_company(
    name: Annotated[str, typer.Argument(help="The company's name (Whop's title).")],
    company_id: Annotated[str | None, typer.Option("--id", help="Id (default: new).")] = None,
    admins: Annotated[
        list[str] | None, typer.Option("--admin", help="A user id on its team (repeatable).")
    ] = None,
    logo_url: Annotated[str | None, typer.Option(help="Logo URL.")] = None,
    url: UrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a company (a creator at Whop)."""
    body: dict[str, Any] = {"name": name, "admin_user_ids": list(admins or [])}
    if company_id:
        body["id"] = company_id
    if logo_url:
        body["logo_url"] = logo_url
    data = _admin(url, "POST", "/companies", body)
    if as_json:
        _print_json(data)
        return
    typer.echo(f"created {data['id']} ({data['name']})")


@company_app.command("add-admin")
def add_admin(
    company_id: CompanyId,
    user_id: Annotated[str, typer.Argument(help="User id (user_...).")],
    url: UrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Put a user on a company's team (check access then answers `admin`)."""
    data = _admin(url, "POST", f"/companies/{company_id}/team", {"user_id": user_id})
    if as_json:
        _print_json(data)
        return
    typer.echo(f"{company_id} team: {', '.join(data['admin_user_ids'])}")


@emulator_app.command()
def experiences(url: UrlOption = None, as_json: JsonOption = False) -> None:
    """List the emulator's experiences."""
    data = _admin(url, "GET", "/experiences")["data"]
    if as_json:
        _print_json(data)
        return
    rows = [
        [e["id"], e["company_id"], e["name"], ", ".join(e["product_ids"]) or "(any)"] for e in data
    ]
    _table("Experiences", ["id", "company", "name", "products"], rows)


@experience_app.command("add")
def add_experience(
    company_id: CompanyId,
    name: Annotated[str, typer.Argument(help="The experience's name.")],
    experience_id: Annotated[str | None, typer.Option("--id", help="Id (exp_...).")] = None,
    products: Annotated[
        list[str] | None,
        typer.Option("--product", help="A product it is attached to (default: any)."),
    ] = None,
    url: UrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create an experience of a company; the app is served at /experiences/{id}."""
    body: dict[str, Any] = {
        "company_id": company_id,
        "name": name,
        "product_ids": list(products or []),
    }
    if experience_id:
        body["id"] = experience_id
    data = _admin(url, "POST", "/experiences", body)
    if as_json:
        _print_json(data)
        return
    typer.echo(f"created {data['id']} ({data['name']}) in {data['company_id']}")
