"""Membership gating: decide locally, revalidate with Whop when stale, fail closed.

Public surface:

- `Gate.decide_for(principal, requirement=...) -> Decision` (service.py), one per app as
  `Services.gate`, with its `PolicyCache`, `Revalidator` and SQLite `GateCache`
- `decide(...)`, `Decision`, `Requirement`, `AccessPolicy` (policy.py, pure)
- `check_creator_access(...)` (revalidate.py): the check-access call sign-in can share
- `AccessDenied` (errors.py)

The FastAPI guards built on it (`RequireMember`, `RequireCreator`, `member_gate`,
`EmbeddedMember`) live in `mentora.web.gate`.

The package imports none of its modules: `policy` stays pure to import (no database, no web
stack), which tests/unit relies on. Import each name from its module.
"""
