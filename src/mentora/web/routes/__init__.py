"""Every router the app mounts, in order."""

from fastapi import APIRouter

from mentora.web.routes import auth, health, pages

ROUTERS: list[APIRouter] = [health.router, auth.router, pages.router]
