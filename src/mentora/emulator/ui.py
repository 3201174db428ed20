"""The HTML control page at `/`: see the world and push memberships around by hand.

Plain forms that POST and redirect back (303), so it works without JavaScript.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from mentora.emulator.lifecycle import MEMBERSHIP_ACTIONS, SUPPORTED_EVENTS
from mentora.emulator.pages import render
from mentora.emulator.state import StateError

if TYPE_CHECKING:
    from mentora.emulator.app import Emulator

RECENT_WEBHOOKS = 20


def back(message: str) -> Response:
    """Redirect to the control page with a one-line notice."""
    return RedirectResponse("/?" + urlencode({"msg": message}), status_code=303)


def routes(emu: Emulator) -> list[BaseRoute]:
    """Return the control-page routes bound to an emulator."""

    async def home(http: Request) -> Response:
        """GET /: the control page."""
        state = emu.state
        memberships = sorted(state.memberships.values(), key=lambda m: m.seq)
        return render(
            "home.html",
            config=emu.config,
            message=http.query_params.get("msg", ""),
            users=list(state.users.values()),
            companies=list(state.companies.values()),
            experiences=list(state.experiences.values()),
            products=state.products,
            memberships=memberships,
            actions=list(MEMBERSHIP_ACTIONS),
            events=SUPPORTED_EVENTS,
            webhooks=list(reversed(state.webhooks[-RECENT_WEBHOOKS:])),
            calls=sorted(state.faults.calls.items()),
            faults=state.faults.faults,
        )

    async def membership_action(http: Request) -> Response:
        """POST /_emulator/ui/memberships/{id}/{action}."""
        membership_id, action = http.path_params["id"], http.path_params["action"]
        try:
            sent = emu.lifecycle.apply_action(membership_id, action)
        except StateError as exc:
            return back(f"Error: {exc.message}")
        events = ", ".join(r.type for r in sent) or "no webhook (nothing changed)"
        return back(f"{membership_id}: {action} → {events}")

    async def trigger(http: Request) -> Response:
        """POST /_emulator/ui/trigger (form: type, user_id)."""
        form = await http.form()
        event_type, user_id = str(form.get("type", "")), str(form.get("user_id", ""))
        try:
            record = emu.lifecycle.trigger(event_type, user_id=user_id)
        except StateError as exc:
            return back(f"Error: {exc.message}")
        return back(f"Sent {record.type} ({record.id}) for {user_id}")

    async def clear_faults(http: Request) -> Response:
        """POST /_emulator/ui/faults/clear."""
        emu.clear_faults()
        return back("Faults cleared")

    async def reset(http: Request) -> Response:
        """POST /_emulator/ui/reset."""
        await emu.reset()
        return back("Emulator reset to the demo data")

    return [
        Route("/", home, methods=["GET"]),
        Route("/_emulator/ui/memberships/{id}/{action}", membership_action, methods=["POST"]),
        Route("/_emulator/ui/trigger", trigger, methods=["POST"]),
        Route("/_emulator/ui/faults/clear", clear_faults, methods=["POST"]),
        Route("/_emulator/ui/reset", reset, methods=["POST"]),
    ]
