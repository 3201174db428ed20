"""Read models for the pages: pure shaping plus the queries that feed one page each.

status.py       membership status → label and tone (shared by student and creator pages)
formatting.py   dates and relative times for templates
dashboard.py    a student's memberships across creators
students.py     a creator's students: search, status filter, paging
deliveries.py   a creator's webhook deliveries: filters, keyset paging, counts
audit.py        a creator's audit trail: filters, keyset paging
activity.py     sign-ins, deliveries and denials per day, and the SVG bar chart geometry
sync.py         the last reconciliation runs, narrowed to one creator
mailbox.py      the development outbox (.eml files in MAIL_DIR)
paging.py       keyset paging helpers (newest first by time and id)
params.py       checks for query and form values (bad input is a 400)
"""
