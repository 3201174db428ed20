"""Every router the app mounts, in order."""

from fastapi import APIRouter

from mentora.web.routes import (
    account,
    auth,
    content,
    creator,
    dev,
    experiences,
    health,
    onboard,
    pages,
    spaces,
    webhooks,
)

ROUTERS: list[APIRouter] = [
    health.router,
    # The gated content routes are the hot path: matched early (their paths overlap no other).
    content.router,
    # Whop's deliveries are the other hot path: matched before the page routers.
    webhooks.router,
    experiences.router,
    auth.router,
    pages.router,
    account.router,
    creator.router,
    spaces.router,
    onboard.router,
    dev.router,
]
