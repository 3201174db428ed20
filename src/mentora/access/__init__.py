"""Membership gating: decide locally, revalidate with Whop when stale, fail closed.

Public surface:

- `decide_for(services, principal, requirement=...) -> Decision` (service.py)
- `RequireMember`, `RequireCreator`, `member_gate(tier=..., products=...)`, `EmbeddedMember`
  (deps.py), built on `mentora.sessions.deps.CurrentSession`
- `decide(...)`, `Decision`, `Requirement`, `AccessPolicy` (policy.py, pure)
- `check_creator_access(...)` (revalidate.py): the check-access call sign-in can share
- `AccessDenied` (errors.py)
"""

from mentora.access.errors import AccessDenied
from mentora.access.policy import AccessPolicy, Decision, Requirement, decide
from mentora.access.service import decide_for

__all__ = ["AccessDenied", "AccessPolicy", "Decision", "Requirement", "decide", "decide_for"]
