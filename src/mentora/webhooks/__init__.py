"""Whop webhooks: pure verification, the delivery store, the event table, retry and replay."""
