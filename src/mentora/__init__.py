"""Mentora's front door: Sign in with Whop, membership gating and signed Whop webhooks."""

__version__ = "0.1.0"
