"""The client's address: forwarded headers count only from configured trusted proxies (R02)."""

from __future__ import annotations

import ipaddress


def client_ip(peer: str | None, forwarded_for: str | None, trusted: frozenset[str]) -> str | None:
    """Return the nearest untrusted hop: the peer itself unless it is a trusted proxy."""
    if peer is None or peer not in trusted or not forwarded_for:
        return peer
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return peer
        if hop not in trusted:
            return hop
    return hops[0] if hops else peer
