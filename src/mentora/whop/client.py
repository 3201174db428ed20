"""WhopClient: check access and read memberships through the official `whop-sdk` (2.6.x).

The HTTP client is injected (`httpx.AsyncClient`), so tests point it at the emulator through
`httpx.ASGITransport` and production at Whop. The SDK's own retries are off: callers decide
(sync honours 429 and Retry-After; the request path fails closed). Whatever the SDK raises
ends up in our Whop error tree (`mentora.whop.errors`), so no caller sees an SDK exception.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
from whop_sdk import AsyncWhop
from whop_sdk.core.api_error import ApiError
from whop_sdk.core.parse_error import ParsingError
from whop_sdk.environment import WhopEnvironment

from mentora.whop.errors import (
    WhopAuthError,
    WhopBadResponse,
    WhopError,
    WhopNotFound,
    WhopPermissionDenied,
    WhopRateLimited,
    WhopUnavailable,
)
from mentora.whop.schemas import (
    VALID_ACCESS_LEVELS,
    AccessAnswer,
    CompanyProfile,
    ExperienceInfo,
    MembershipSnapshot,
)

T = TypeVar("T")
API_VERSION_DATE = "2026-10-15-1"


def _retry_after(headers: dict[str, str] | None, body: Any) -> float:
    for key, value in (headers or {}).items():
        if key.lower() == "retry-after":
            try:
                return max(0.0, float(value))
            except ValueError:
                break
    return 1.0


class WhopClient:
    """Typed calls to Whop's REST API with the app's API key."""

    def __init__(
        self, *, api_base_url: str, api_key: str, http: httpx.AsyncClient, timeout: float
    ) -> None:
        """Build the SDK client on the injected `http` client."""
        self._sdk = AsyncWhop(
            token=api_key,
            environment=WhopEnvironment(
                api=api_base_url.rstrip("/"), vault=api_base_url.rstrip("/")
            ),
            api_version_date=API_VERSION_DATE,
            httpx_client=http,
            timeout=timeout,
            max_retries=0,
        )

    async def _call(self, op: Callable[[], Awaitable[T]]) -> T:
        try:
            return await op()
        except ApiError as exc:
            status = exc.status_code or 0
            if status == 429:
                raise WhopRateLimited(
                    f"whop 429: {exc.body!r}"[:300], retry_after=_retry_after(exc.headers, exc.body)
                ) from None
            if status == 403:
                raise WhopPermissionDenied("whop 403") from None
            if status == 401:
                raise WhopAuthError("whop 401") from None
            if status == 404:
                raise WhopNotFound("whop 404") from None
            if status >= 500 or status in (408, 409):
                raise WhopUnavailable(f"whop {status}") from None
            raise WhopError(f"whop {status}") from None
        except httpx.HTTPError as exc:
            raise WhopUnavailable(f"whop transport error: {type(exc).__name__}") from None
        except WhopError:
            raise
        except (ParsingError, ValueError, TypeError, KeyError) as exc:
            # ParsingError: an answer off whop-sdk's strict models (a plain Exception).
            raise WhopBadResponse(f"unparseable whop response: {type(exc).__name__}") from None
        except Exception as exc:  # any other SDK failure is still "Whop misbehaved", never a crash
            raise WhopBadResponse(f"whop-sdk failed: {type(exc).__name__}") from None

    async def check_access(self, user_id: str, resource_id: str) -> AccessAnswer:
        """Whop's answer to "may `user_id` reach `resource_id` (biz_/prod_/exp_)?"."""
        answer = await self._call(lambda: self._sdk.users.check_access(user_id, resource_id))
        level = str(getattr(answer.access_level, "value", answer.access_level))
        if level not in VALID_ACCESS_LEVELS:
            raise WhopBadResponse(f"unknown access level {level!r}")
        return AccessAnswer(has_access=bool(answer.has_access), access_level=level)

    async def retrieve_company(self, company_id: str) -> CompanyProfile:
        """A company's name, route and logo (Whop's company retrieve, `accounts.retrieve` in
        whop-sdk 2.6.0; needs the `company:basic:read` permission)."""
        account = await self._call(lambda: self._sdk.accounts.retrieve(company_id))
        return CompanyProfile(
            id=account.id,
            name=account.title,
            route=account.route or None,
            logo_url=account.logo_url,
        )

    async def retrieve_experience(self, experience_id: str) -> ExperienceInfo:
        """An experience (`exp_...`) and the company that owns it (Whop's experience retrieve);
        an unknown experience raises WhopNotFound."""

        async def op() -> ExperienceInfo:
            experience = await self._sdk.experiences.retrieve(experience_id)
            return ExperienceInfo.from_payload(experience.model_dump(mode="json"))

        return await self._call(op)

    async def retrieve_membership(self, membership_id: str) -> MembershipSnapshot:
        """One membership by id."""
        membership = await self._call(lambda: self._sdk.memberships.retrieve(membership_id))
        return MembershipSnapshot.from_payload(membership.model_dump(mode="json"))

    async def list_memberships(
        self,
        *,
        company_id: str,
        user_id: str | None = None,
        after: str | None = None,
        first: int = 100,
    ) -> tuple[list[MembershipSnapshot], str | None]:
        """One page of a company's memberships; returns the snapshots and the next cursor."""

        async def op() -> tuple[list[MembershipSnapshot], str | None]:
            pager = await self._sdk.memberships.list(
                account_id=company_id, user_id=user_id, after=after, first=first
            )
            items = [
                MembershipSnapshot.from_payload(m.model_dump(mode="json"))
                for m in pager.items or []
            ]
            page_info = getattr(pager.response, "page_info", None)
            cursor = getattr(page_info, "end_cursor", None)
            return items, (cursor if pager.has_next and cursor else None)

        return await self._call(op)
