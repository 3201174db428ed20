"""Admin API routes for creators' worlds: a company's team and its experiences.

They join the admin table in admin.py (`/_emulator/admin/...`); creating companies stays there.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from mentora.emulator.httputil import BadRequest, read_json
from mentora.emulator.records import Experience, iso
from mentora.emulator.state import StateError

if TYPE_CHECKING:
    from mentora.emulator.app import Emulator

Handler = Callable[[Request], Awaitable[Response]]


def experience_admin_json(experience: Experience) -> dict[str, Any]:
    """Return an experience as the admin API lists it."""
    return {
        "id": experience.id,
        "company_id": experience.company_id,
        "name": experience.name,
        "app_id": experience.app_id,
        "product_ids": list(experience.product_ids),
        "created_at": iso(experience.created_at),
    }


def _text(body: dict[str, Any], key: str, *, required: bool = True) -> str | None:
    """A string field of a JSON body (required unless told)."""
    value = body.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise BadRequest(f"{key} is required (a non-empty string)")
    return value


def _ids(body: dict[str, Any], key: str) -> list[str]:
    """An optional list of string ids."""
    value = body.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise BadRequest(f"{key} must be a list of ids")
    return [str(v) for v in value]


def tenant_routes(emu: Emulator) -> list[tuple[str, Handler, str]]:
    """(path, handler, method) rows for the admin table: team members and experiences."""
    state = emu.state

    async def add_team_member(http: Request) -> Response:
        """POST /companies/{id}/team {user_id}: the user becomes an admin of the company."""
        body = await read_json(http)
        user_id = _text(body, "user_id") or ""
        company = state.add_team_member(http.path_params["id"], user_id)
        return JSONResponse(
            {"company_id": company.id, "admin_user_ids": list(company.admin_user_ids)}
        )

    async def list_experiences(http: Request) -> Response:
        """GET /experiences."""
        data = [experience_admin_json(e) for e in state.experiences.values()]
        return JSONResponse({"data": data})

    async def create_experience(http: Request) -> Response:
        """POST /experiences {company_id, name, id?, app_id?, product_ids?}."""
        body = await read_json(http)
        experience = state.add_experience(
            id=_text(body, "id", required=False),
            company_id=_text(body, "company_id") or "",
            name=_text(body, "name") or "",
            app_id=_text(body, "app_id", required=False) or emu.config.client_id,
            product_ids=_ids(body, "product_ids"),
            now=emu.now(),
        )
        return JSONResponse(experience_admin_json(experience), status_code=201)

    async def get_experience(http: Request) -> Response:
        """GET /experiences/{id}."""
        experience = state.experiences.get(http.path_params["id"])
        if experience is None:
            raise StateError(f"unknown experience {http.path_params['id']}", 404)
        return JSONResponse(experience_admin_json(experience))

    return [
        ("/companies/{id}/team", add_team_member, "POST"),
        ("/experiences", list_experiences, "GET"),
        ("/experiences", create_experience, "POST"),
        ("/experiences/{id}", get_experience, "GET"),
    ]
