"""Sign in with Whop: OAuth 2.1 authorization code + PKCE + OpenID Connect."""
