"""Membership gating: decide locally, revalidate with Whop when stale, fail closed.

Public surface:

- `Gate.decide_for(principal, requirement=...) -> Decision` (service.py), one per app as
  `Services.gate`, with its `PolicyCache`, `Revalidator` and SQLite `GateCache`
- `decide(...)`, `Decision`, `Requirement`, `AccessPolicy` (policy.py, pure)
- `check_creator_access(...)` (revalidate.py): the check-access call sign-in can share
- `AccessDenied` (errors.py)

The FastAPI guards built on it (`RequireMember`, `RequireCreator`, `member_gate`,
`EmbeddedMember`) live in `mentora.web.gate`.
"""

from mentora.access.errors import AccessDenied
from mentora.access.policy import AccessPolicy, Decision, Requirement, decide
from mentora.access.service import Gate

__all__ = ["AccessDenied", "AccessPolicy", "Decision", "Gate", "Requirement", "decide"]
