"""Every router the app mounts, in order."""

from fastapi import APIRouter

from mentora.web.routes import health

ROUTERS: list[APIRouter] = [health.router]
