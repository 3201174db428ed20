"""Access errors: a refusal carries its reason code, what to tell the student and what to do.

    AccessDenied                (403, or 503 when Whop cannot confirm; code = the reason)
    ├── EmbeddedTokenInvalid    (401: the `x-whop-user-token` was missing or did not verify)
    └── EmbeddedUnavailable     (503: Whop's keys, or the experience's company, unknowable now)
    CreatorNotOnboarded         (404: the experience's company has not set up Mentora)

The messages are about the student's own membership, so they are safe to show them; nothing
about other users, tokens or Whop internals appears.
"""

from __future__ import annotations

from dataclasses import dataclass

from mentora.errors import MentoraError


@dataclass(frozen=True)
class Guidance:
    """What the refusal page says: a headline, an explanation and the next step."""

    title: str
    message: str
    # renew (link to buy on Whop), wait (try again later), signin (sign in again),
    # upgrade (a higher tier on Whop), none (nothing the student can do here).
    action: str


GUIDANCE: dict[str, Guidance] = {
    "no_membership": Guidance(
        "No membership",
        "Your Whop account has no membership for this creator's courses.",
        "renew",
    ),
    "expired": Guidance("Membership expired", "Your membership has expired.", "renew"),
    "canceled": Guidance("Membership canceled", "Your membership was canceled.", "renew"),
    "deactivated": Guidance(
        "Membership ended", "Whop says your membership no longer gives access.", "renew"
    ),
    "missing": Guidance(
        "Membership not found", "Whop no longer knows the membership we had on file.", "renew"
    ),
    "past_due_expired": Guidance(
        "Payment overdue",
        "Your last payment did not go through and the grace period has ended. "
        "Update your payment method on Whop to get access back.",
        "renew",
    ),
    "payment_failed": Guidance(
        "Payment failed",
        "Access is paused because your last payment failed. Update your payment on Whop.",
        "renew",
    ),
    "refunded": Guidance(
        "Membership refunded", "Access ended because the payment was refunded.", "renew"
    ),
    "disputed": Guidance(
        "Payment disputed", "Access is paused while a payment dispute is open.", "none"
    ),
    "access_hold": Guidance("Access paused", "Access to this membership is paused.", "none"),
    "unresolved": Guidance(
        "Membership on hold", "Your membership is not in good standing at Whop.", "renew"
    ),
    "drafted": Guidance("Membership not started", "Your membership has not started yet.", "wait"),
    "unknown_status": Guidance(
        "Membership not recognised",
        "We could not confirm your membership. Please try again later.",
        "wait",
    ),
    "whop_no_access": Guidance(
        "No access", "Whop reports that your membership no longer gives access.", "renew"
    ),
    "tier_required": Guidance(
        "Upgrade needed", "This content is part of a higher membership tier.", "upgrade"
    ),
    "product_required": Guidance(
        "Different membership needed",
        "This content comes with a membership you do not have.",
        "upgrade",
    ),
    "creator_required": Guidance(
        "Creators only", "Only the creator's team can open this page.", "none"
    ),
    "creator_disabled": Guidance(
        "Creator unavailable",
        "This creator's courses are switched off on Mentora for now. Your Whop membership "
        "is unchanged; try again later.",
        "wait",
    ),
    "embedded_token_invalid": Guidance(
        "Open from Whop", "Open this page from inside Whop to continue.", "none"
    ),
    "stale_whop_unreachable": Guidance(
        "Whop unavailable",
        "We cannot confirm your membership with Whop right now, so access is paused. "
        "Please try again in a few minutes.",
        "wait",
    ),
}
FALLBACK = Guidance("No access", "Your membership does not give access right now.", "renew")
UNAVAILABLE_REASONS = frozenset({"stale_whop_unreachable"})


class AccessDenied(MentoraError):
    """A gated request was refused; `code` is the decision's reason code."""

    code = "access_denied"
    status = 403
    public_message = FALLBACK.message
    template = "access_denied.html"

    def __init__(
        self,
        reason: str,
        *,
        purchase_url: str | None = None,
        retry_after: int | None = None,
        detail: str = "",
        creator: object | None = None,
    ) -> None:
        """Build the refusal for `reason` (a Decision reason code); `creator` (its name and
        logo) heads the page when the refusal is at a known creator."""
        self.guidance = GUIDANCE.get(reason, FALLBACK)
        self.public_message = self.guidance.message
        super().__init__(detail or f"access denied: {reason}", code=reason)
        self.reason = reason
        self.purchase_url = purchase_url
        self.creator = creator
        if reason in UNAVAILABLE_REASONS:
            self.status = 503
        self.headers: dict[str, str] = {"cache-control": "no-store"}
        if self.status == 503 and retry_after is not None:
            self.headers["retry-after"] = str(max(1, retry_after))

    @property
    def context(self) -> dict[str, object]:
        """Template context for access_denied.html."""
        context: dict[str, object] = {
            "reason": self.reason,
            "title": self.guidance.title,
            "action": self.guidance.action,
            "purchase_url": self.purchase_url,
        }
        if self.creator is not None:
            context["creator"] = self.creator
        return context


class EmbeddedTokenInvalid(AccessDenied):
    """The iframe request's `x-whop-user-token` is missing, malformed, forged or expired."""

    status = 401

    def __init__(self, detail: str, *, code: str = "invalid") -> None:
        """`code` names the failed check for the audit trail; the client sees one message."""
        super().__init__("embedded_token_invalid", detail=detail)
        self.check = code


class EmbeddedUnavailable(AccessDenied):
    """Whop's keys could not be fetched, so no iframe token can be verified (fail closed)."""

    def __init__(self, detail: str) -> None:
        """Refuse with 503 and the "Whop unavailable" guidance."""
        super().__init__("stale_whop_unreachable", detail=detail, retry_after=30)


class CreatorNotOnboarded(MentoraError):
    """Whop runs the app in an experience of a company that has not set up Mentora yet.

    The page names the company (the visitor is inside its experience at Whop, so its name is
    no secret to them) and, for the company's admins, links to onboarding.
    """

    code = "creator_not_onboarded"
    status = 404
    template = "not_onboarded.html"

    def __init__(self, *, company_id: str, company_name: str, is_admin: bool) -> None:
        """Refuse with the company's name; `is_admin` (Whop's check access) adds the link."""
        super().__init__(f"company {company_id} not onboarded")
        self.public_message = f"{company_name} has not set up Mentora yet."
        self.company_name = company_name
        self.onboard_url = f"/onboard?company_id={company_id}" if is_admin else None
        self.headers: dict[str, str] = {"cache-control": "no-store"}

    @property
    def context(self) -> dict[str, object]:
        """Template context for not_onboarded.html."""
        return {"company_name": self.company_name, "onboard_url": self.onboard_url}
