"""Every router the app mounts, in order."""

from fastapi import APIRouter

from mentora.access import routes as access_routes
from mentora.web.routes import account, auth, creator, dev, health, pages, webhooks

ROUTERS: list[APIRouter] = [
    health.router,
    # The gated content routes are the hot path: matched early (their paths overlap no other).
    access_routes.router,
    auth.router,
    pages.router,
    webhooks.router,
    account.router,
    creator.router,
    dev.router,
]
