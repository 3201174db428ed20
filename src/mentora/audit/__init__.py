"""Append-only security events: one table, one structured log line per event.

`audit.record` writes them; `audit.fields` and `audit.kinds` are plain types that pure code
(the membership planner) imports without the database layer, so this package imports nothing
itself.
"""
