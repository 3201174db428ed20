"""The Whop client's reading of an experience, against Whop's real shape (whop-sdk's model)."""

from __future__ import annotations

from typing import Any

import pytest
from whop_sdk.types.experience import Experience

from mentora.whop.schemas import ExperienceInfo

# Every field of whop-sdk's `Experience` (types/experience.py and the nested models), as the
# API sends them.
PAYLOAD: dict[str, Any] = {
    "id": "exp_XXXXXXXX",
    "name": "Courses",
    "created_at": "2026-11-30T10:00:00.000Z",
    "is_public": False,
    "order": "123.45",
    "image": {"url": "https://assets.whop.com/exp.png"},
    "app": {"id": "app_XXXX", "name": "Mentora", "icon": {"url": None}},
    "company": {"id": "biz_XXXXXXXX", "title": "Pickaxe Academy", "route": "pickaxe"},
    "products": [
        {"id": "prod_AAAA", "title": "Pro", "route": "pro"},
        {"id": "prod_BBBB", "title": "Basic", "route": "basic"},
    ],
}


def test_parses_whop_sdks_experience() -> None:
    """The SDK's model accepts the payload, and our parser reads the company from its dump."""
    model = Experience.model_validate(PAYLOAD)
    info = ExperienceInfo.from_payload(model.model_dump(mode="json"))
    assert info == ExperienceInfo(
        id="exp_XXXXXXXX",
        name="Courses",
        company_id="biz_XXXXXXXX",
        company_name="Pickaxe Academy",
        company_route="pickaxe",
        product_ids=("prod_AAAA", "prod_BBBB"),
    )


def test_tolerates_missing_optional_parts() -> None:
    """No title, route, name or products: the company id stands in for the name."""
    info = ExperienceInfo.from_payload({"id": "exp_1", "company": {"id": "biz_1"}})
    assert (info.company_name, info.company_route, info.name, info.product_ids) == (
        "biz_1",
        None,
        "exp_1",
        (),
    )


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"id": "exp_1"},
        {"id": "exp_1", "company": "biz_1"},
        {"id": "exp_1", "company": {"title": "No id"}},
        {"id": "exp_1", "company": {"id": "user_1"}},
        {"id": 7, "company": {"id": "biz_1"}},
        {"id": "prod_1", "company": {"id": "biz_1"}},
    ],
)
def test_refuses_payloads_without_experience_or_company_ids(payload: dict[str, Any]) -> None:
    """Without an exp_ id and its company's biz_ id there is nothing to route on."""
    with pytest.raises(ValueError, match="experience"):
        ExperienceInfo.from_payload(payload)
