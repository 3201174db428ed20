"""Membership gating: decide locally, revalidate with Whop when stale, fail closed.

Public surface:

- `decide_for(services, principal, requirement=...) -> Decision` (service.py)
- `RequireMember`, `RequireCreator`, `member_gate(tier=..., products=...)`, `EmbeddedMember`
  (deps.py), built on `mentora.sessions.deps.CurrentSession`
- `decide(...)`, `Decision`, `Requirement`, `AccessPolicy` (policy.py, pure)
- `check_creator_access(...)` (revalidate.py): the check-access call sign-in can share
- `AccessDenied` (errors.py)

The package imports none of its modules: `policy` stays pure to import (no database, no web
stack), which tests/unit relies on. Import each name from its module.
"""
