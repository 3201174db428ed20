"""Role-named dependency aliases shared by routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from starlette.requests import Request

from mentora.services import Services
from mentora.web.state import app_state


def get_services(request: Request) -> Services:
    """The app's services."""
    return app_state(request).services


async def _services_dependency(request: Request) -> Services:
    """`get_services` as a dependency: async, because FastAPI runs a sync dependency on a
    worker thread, and that hop cost more than the whole webhook route's own work."""
    return get_services(request)


ServicesDep = Annotated[Services, Depends(_services_dependency)]
