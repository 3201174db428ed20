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
    # The gated content routes are the hot path: matched early (their paths overlap no other,
    # and each router passed costs FastAPI a match attempt per request).
    content.router,
    # Whop's deliveries are the other hot path: matched before the page routers (and
    # before the spaces, whose nested creator routes cost more to pass than this one).
    webhooks.router,
    spaces.router,
    experiences.router,
    auth.router,
    pages.router,
    account.router,
    creator.router,
    onboard.router,
    dev.router,
]
