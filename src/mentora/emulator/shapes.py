"""JSON shapes of Whop objects, following whop-sdk 2.6.0's models (Api-Version-Date 2026-10-15-1).

Every function here returns what the real API would put on the wire, so the official
SDK's pydantic models parse it (tests check that). Optional fields the emulator does not
model are present as null, as Whop sends them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mentora.emulator.records import (
    Company,
    Experience,
    Membership,
    Payment,
    Product,
    User,
    iso,
)
from mentora.emulator.state import EmulatorState


def money(amount: str, currency: str) -> dict[str, Any]:
    """Return a Money object (decimal string amount, lowercase ISO currency)."""
    return {"amount": amount, "currency": currency, "decimals": 2, "display_decimals": 2}


def account_json(company: Company) -> dict[str, Any]:
    """Return the StorefrontAccount object embedded in a membership."""
    return {
        "id": company.id,
        "title": company.name,
        "route": company.route,
        "logo_url": company.logo_url,
    }


def account_detail_json(state: EmulatorState, company: Company) -> dict[str, Any]:
    """Return the Account object of `GET /accounts/{id}` (whop_sdk.types.Account).

    The model has many required fields about payouts, taxes and store settings that the
    emulator does not track; they carry neutral values so the SDK parses the answer.
    """
    owner_id = company.admin_user_ids[0] if company.admin_user_ids else None
    owner = state.users.get(owner_id) if owner_id else None
    return {
        "id": company.id,
        "title": company.name,
        "route": company.route,
        "logo_url": company.logo_url,
        "created_at": iso(company.created_at),
        # A company without a team still has an owner at Whop; the emulator shows a stand-in.
        "owner": user_summary_json(owner)
        if owner
        else {
            "id": "user_owner",
            "username": "owner",
            "name": None,
            "profile_picture": {"url": "https://assets.whop.test/avatars/user_owner.png"},
        },
        "metadata": {},
        "verification": {},
        "balances": [],
        "platform_credits": [],
        "social_links": [],
        "tax_identifiers": [],
        "tax_collection_enabled_states": [],
        "home_preferences": [],
        "company_formation": {},
        "store_page_config": {"whop_affiliate_link": False},
        "can_transfer_pending_balance_to_children": False,
        "collect_vat_id": False,
        "dispute_fighter_enabled": False,
        "economic_intelligence": False,
        "orchestration_enabled": False,
        "require2fa": False,
        "send_customer_emails": True,
        "show_joined_whops": False,
        "show_reviews_dtc": False,
        "show_user_directory": False,
        "use_logo_as_opengraph_image_fallback": False,
    }


def experience_json(state: EmulatorState, experience: Experience) -> dict[str, Any]:
    """Return the Experience object of `GET /experiences/{id}` (whop_sdk.types.Experience)."""
    company = state.companies[experience.company_id]
    products = [state.products[p] for p in experience.product_ids if p in state.products]
    if not experience.product_ids:
        # Granting to any product of the company: list them all, as Whop lists the attached.
        products = [p for p in state.products.values() if p.company_id == company.id]
    return {
        "id": experience.id,
        "name": experience.name,
        "created_at": iso(experience.created_at),
        "is_public": False,
        "order": None,
        "image": None,
        "app": {"id": experience.app_id, "name": "Mentora", "icon": None},
        "company": {"id": company.id, "title": company.name, "route": company.route},
        "products": [{"id": p.id, "title": p.title, "route": slug_of(p.title)} for p in products],
    }


def slug_of(title: str) -> str:
    """A product's public route, derived from its title as Whop derives a default one."""
    return "-".join("".join(c if c.isalnum() else " " for c in title.lower()).split())


def user_json(user: User, *, include_email: bool = False) -> dict[str, Any]:
    """Return a User object; Whop fills `email` only on the self view with email scope."""
    return {
        "id": user.id,
        "username": user.username,
        "name": user.name,
        "bio": user.bio,
        "email": user.email if include_email else None,
        "created_at": iso(user.created_at),
        "profile_picture": {"url": user.picture_url},
        "banner": None,
        "social_links": [],
        "balances": [],
        "balance": None,
        "verification": {"individual": None, "business": None},
    }


def user_summary_json(user: User) -> dict[str, Any]:
    """Return the UserSummary object embedded in payments."""
    return {
        "id": user.id,
        "username": user.username,
        "name": user.name,
        "profile_picture": {"url": user.picture_url},
    }


def _most_recent_action(m: Membership) -> tuple[str | None, datetime | None]:
    """Return the `most_recent_action` pair Whop derives from the lifecycle state."""
    if m.status == "canceled":
        return "canceled_on", m.canceled_at or m.updated_at
    if m.cancel_at_period_end or m.status == "canceling":
        return "canceling_on", m.current_period_end
    if m.status == "past_due":
        return "past_due", m.updated_at
    if m.status == "trialing":
        return "trial_ends_at", m.current_period_end
    if m.status == "active":
        return "renewing_on", m.current_period_end
    if m.status == "expired":
        return "ending_on", m.updated_at
    return None, None


def membership_json(state: EmulatorState, m: Membership) -> dict[str, Any]:
    """Return a Membership object as GET /memberships/{id} and webhooks carry it."""
    product = state.products[m.product_id]
    company = state.companies[m.company_id]
    action, action_at = _most_recent_action(m)
    recurring = product.billing_period_days is not None
    return {
        "id": m.id,
        "status": m.status,
        "created_at": iso(m.created_at),
        "updated_at": iso(m.updated_at),
        "account": account_json(company),
        "product": {"id": product.id, "title": product.title, "logo_url": None},
        "product_id": product.id,
        "plan_id": m.plan_id,
        "user_id": m.user_id,
        "member_id": m.member_id,
        "member": None,  # only filled for the buyer's own reads; seller-side reads get null
        "promo_code_id": None,
        "affiliate": None,
        "billing_period_days": product.billing_period_days,
        "collection_method": "charge_automatically" if recurring else None,
        "initial_price": money(product.price, product.currency),
        "renewal_price": money(product.price, product.currency) if recurring else None,
        "current_period_start": iso(m.current_period_start),
        "current_period_end": iso(m.current_period_end),
        "expires_at": None,
        "cancel_at_period_end": m.cancel_at_period_end,
        "canceled_at": iso(m.canceled_at),
        "cancellation_reason": None,
        "cancel_option": None,
        "feedback_option": None,
        "most_recent_action": action,
        "most_recent_action_at": iso(action_at),
        "license_key": None,
        "manage_url": None,
        "metadata": dict(m.metadata),
        "phone_number": None,
        "split_pay_current_payments": None,
        "split_pay_required_payments": None,
    }


def payment_json(state: EmulatorState, p: Payment) -> dict[str, Any]:
    """Return a Payment object (whop_sdk.types.Payment) with a few legacy nested extras.

    The `membership`, `product` and `company` objects are not in the 2.6.0 model (which
    allows extra fields) but are in Whop's older payment payloads; they make the payload
    easy to use without a second lookup.
    """
    user = state.users.get(p.user_id)
    membership = state.memberships.get(p.membership_id) if p.membership_id else None
    product: Product | None = state.products.get(p.product_id) if p.product_id else None
    company = state.companies.get(p.company_id) if p.company_id else None
    total = money(p.amount, p.currency)
    zero = money("0.00", p.currency)
    return {
        "id": p.id,
        "status": p.status,
        "substatus": p.substatus,
        "currency": p.currency,
        "total": total,
        "subtotal": total,
        "usd_total": total if p.currency == "usd" else None,
        "amount_after_fees": total if p.status == "paid" else zero,
        "tax_amount": zero,
        "tax_refunded_amount": zero,
        "refunded_amount": None,
        "refunded_at": None,
        "created_at": iso(p.created_at),
        "updated_at": iso(p.created_at),
        "paid_at": iso(p.paid_at),
        "last_payment_attempt_at": iso(p.created_at),
        "failure_message": p.failure_message,
        "payments_failed": float(p.payments_failed),
        "account_id": p.company_id,
        "membership_id": p.membership_id,
        "member_id": membership.member_id if membership else None,
        "product_id": p.product_id,
        "plan_id": p.plan_id,
        "user": user_summary_json(user) if user else None,
        "customer_email": user.email if user else None,
        "auto_refunded": False,
        "refundable": p.status == "paid",
        "retryable": p.status != "paid",
        "voidable": False,
        "three_ds_verified": False,
        "billing_reason": p.billing_reason,
        "holds": [],
        "line_items": [],
        "payment_rule_matches": [],
        "metadata": {},
        # Legacy-style nested objects (extras; see docstring).
        "membership": {"id": membership.id, "status": membership.status} if membership else None,
        "product": {"id": product.id, "title": product.title} if product else None,
        "company": {"id": company.id, "title": company.name} if company else None,
    }


def refund_json(
    state: EmulatorState, refund_id: str, p: Payment, *, amount: str, status: str, at: datetime
) -> dict[str, Any]:
    """Return a refund as refund webhooks carry it (whop_sdk.types.RefundLegacy): numbers in
    major units and the refunded payment nested, with its total and membership."""
    membership = state.memberships.get(p.membership_id) if p.membership_id else None
    return {
        "id": refund_id,
        "status": status,
        "amount": float(amount),
        "currency": p.currency,
        "provider": "stripe",
        "created_at": iso(at),
        "provider_created_at": iso(at),
        "metadata": {},
        "reference_status": None,
        "reference_type": None,
        "reference_value": None,
        "payment": {
            "id": p.id,
            "created_at": iso(p.created_at),
            "paid_at": iso(p.paid_at),
            "currency": p.currency,
            "total": float(p.amount),
            "subtotal": float(p.amount),
            "billing_reason": "subscription_cycle",
            "membership": {"id": membership.id, "status": membership.status}
            if membership
            else None,
            "metadata": {},
        },
    }


def dispute_json(
    dispute_id: str, p: Payment, *, status: str, opened_at: datetime, at: datetime
) -> dict[str, Any]:
    """Return a dispute as whop_sdk.types.Dispute: it names the payment, not the membership."""
    open_for_evidence = status in ("needs_response", "warning_needs_response")
    return {
        "id": dispute_id,
        "status": status,
        "acceptable": status == "needs_response",
        "amount": float(p.amount),
        "currency": p.currency,
        "account_id": p.company_id,
        "buyer": {},
        "evidence": {"documents": []},
        "evidence_editable": open_for_evidence,
        "evidence_due_at": None,
        "evidence_submitted_at": None,
        "fee": None,
        "inquiry": status.startswith("warning_"),
        "issuer_comments": [],
        "line_items": [],
        "payment": {
            "id": p.id,
            "created_at": iso(p.created_at),
            "amount": float(p.amount),
            "currency": p.currency,
        },
        "plan_id": p.plan_id,
        "product_id": p.product_id,
        "reason": "fraudulent",
        "reason_code": None,
        "created_at": iso(opened_at),
        "updated_at": iso(at),
    }


def dispute_alert_json(alert_id: str, p: Payment, *, at: datetime) -> dict[str, Any]:
    """Return an issuer's pre-dispute alert as whop_sdk.types.DisputeAlert."""
    return {
        "id": alert_id,
        "type": "dispute_alert",
        "amount": float(p.amount),
        "currency": p.currency,
        "account_id": p.company_id,
        "payment_id": p.id,
        "product_id": p.product_id,
        "auto_refunded": False,
        "fee_charged": True,
        "fee": money("15.00", "usd"),
        "card_brand": "visa",
        "issuer": None,
        "created_at": iso(at),
        "reported_at": iso(at),
        "transaction_at": iso(p.created_at),
        "updated_at": iso(at),
    }
