"""Plain-text messages the outbox sends, rendered from a small table (pure).

Values come partly from Whop payloads, so they are reduced to one printable line each: a name
with a newline can neither inject a mail header nor fake a paragraph.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from string import Template

MAX_VALUE_LENGTH = 200
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f]+")


@dataclass(frozen=True)
class MessageTemplate:
    """A subject and body with `$name` placeholders."""

    subject: str
    body: str


TEMPLATES: dict[str, MessageTemplate] = {
    "welcome": MessageTemplate(
        subject="Welcome to $creator",
        body=(
            "Hi $name,\n\n"
            "Your $creator membership is active. Sign in with Whop to start learning:\n"
            "$app_url\n"
        ),
    ),
    "access_ended": MessageTemplate(
        subject="Your $creator membership has ended",
        body=(
            "Hi $name,\n\n"
            "Your $creator membership is no longer active, so your access has ended.\n"
            "You can renew it here:\n$purchase_url\n"
        ),
    ),
    "receipt": MessageTemplate(
        subject="Payment received for $creator",
        body=(
            "Hi $name,\n\n"
            "We received your payment of $amount $currency for $creator.\n"
            "Reference: $payment_id\n"
        ),
    ),
    "renewal_receipt": MessageTemplate(
        subject="Your $creator membership has renewed",
        body=(
            "Hi $name,\n\n"
            "Your $creator membership has renewed: we received your payment of "
            "$amount $currency.\n"
            "Reference: $payment_id\n"
        ),
    ),
    "payment_failed_alert": MessageTemplate(
        subject="[Mentora] A payment failed at $creator",
        body=(
            "Payment $payment_id failed for user $user_id (membership $membership_id).\n"
            "Reason: $reason\n"
            "Access paused: $paused\n"
        ),
    ),
    "dispute_alert": MessageTemplate(
        subject="[Mentora] A payment at $creator may be disputed",
        body=(
            "The card issuer warned ($alert_type) that payment $payment_id "
            "(membership $membership_id, $amount) will be disputed.\n"
            "Refunding it now on Whop avoids the chargeback and its fee.\n"
            "Refunded by Whop already: $auto_refunded\n"
            "Alert: $alert_id\n"
        ),
    ),
    "webhook_dead_alert": MessageTemplate(
        subject="[Mentora] A Whop webhook for $creator could not be processed",
        body=(
            "Delivery $webhook_id ($event_type) for $creator failed $attempts times and was "
            "set aside.\n"
            "Last error: $error\n\n"
            "After fixing the cause, process it again with:\n"
            "  mentora webhooks replay $webhook_id\n"
        ),
    ),
    "sync_failed_alert": MessageTemplate(
        subject="[Mentora] Reconciliation with Whop failed",
        body=(
            "Sync run $run_id ($trigger) ended as $outcome.\n"
            "Error: $error\n\n"
            "Run it again with: mentora sync run\n"
        ),
    ),
}


def one_line(value: object) -> str:
    """`value` as one printable line, at most MAX_VALUE_LENGTH characters."""
    text = _UNPRINTABLE.sub(" ", str(value)).strip()
    return text[:MAX_VALUE_LENGTH]


def render(template: str, context: dict[str, object]) -> tuple[str, str]:
    """The subject and body of `template` with `context` filled in (missing keys left empty).

    Raises KeyError for an unknown template name.
    """
    chosen = TEMPLATES[template]
    subject_template, body_template, placeholders = _compiled(chosen.subject, chosen.body)
    values = {key: one_line(value) for key, value in context.items()}
    for name in placeholders:
        values.setdefault(name, "")
    subject = subject_template.substitute(values)
    body = body_template.substitute(values)
    return one_line(subject), body


@cache
def _compiled(subject: str, body: str) -> tuple[Template, Template, frozenset[str]]:
    """A template's parts and their placeholders, found once (a welcome email per new member
    rendered them afresh each time); keyed by the text, so a changed text is compiled anew."""
    parts = Template(subject), Template(body)
    return *parts, frozenset(name for part in parts for name in part.get_identifiers())
