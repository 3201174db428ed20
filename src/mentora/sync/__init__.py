"""Reconciliation with Whop's API: scheduled, on demand, and per user."""
