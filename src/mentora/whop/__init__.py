"""The only code that knows Whop's REST API: a typed wrapper over the official `whop-sdk`."""
