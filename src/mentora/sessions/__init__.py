"""Server-side sessions behind an opaque `__Host-` cookie."""
