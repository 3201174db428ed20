"""HTTP edge: thin routes, templates, middleware and error handlers."""
