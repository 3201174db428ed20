"""A browser as a person names it, "Chrome on Linux", from its User-Agent header.

The parsing is ua-parser's (the maintained port of uap-core's rules); a User-Agent it does not
recognise gets no name, and the page says "Unknown browser".
"""

from __future__ import annotations

from functools import lru_cache

from ua_parser import parse

UNKNOWN = "Other"  # ua-parser's family for what its rules do not recognise


@lru_cache(maxsize=1024)
def browser_name(user_agent: str | None) -> str | None:
    """The browser and system a User-Agent names ("Chrome on Linux"), None when unknown."""
    if not user_agent:
        return None
    parsed = parse(user_agent)
    browser = parsed.user_agent.family if parsed.user_agent else UNKNOWN
    system = parsed.os.family if parsed.os else UNKNOWN
    known = [name for name in (browser, system) if name and name != UNKNOWN]
    return " on ".join(known) or None
