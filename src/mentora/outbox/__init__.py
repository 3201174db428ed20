"""Emails and alerts, queued with the change that causes them and sent by the worker."""
