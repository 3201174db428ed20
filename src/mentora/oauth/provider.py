"""The issuer as one object: metadata, signing keys and the OAuth client, per app."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mentora.foundation import Foundation
from mentora.oauth.discovery import Discovery, ProviderMetadata
from mentora.oauth.idtoken import UnknownKeyId, verify_id_token
from mentora.oauth.jwks import JwksCache
from mentora.oauth.tokens import OAuthClient


@dataclass
class Provider:
    """Discovery, JWKS and token endpoint client for the configured issuer."""

    discovery: Discovery
    jwks: JwksCache
    client: OAuthClient

    async def metadata(self) -> ProviderMetadata:
        """The issuer's (cached) metadata."""
        return await self.discovery.get()

    async def verify_id_token(self, token: str, *, nonce: str, now: datetime) -> dict[str, Any]:
        """Verify an ID token, refetching the JWKS once for an unknown kid (O08)."""
        meta = await self.metadata()
        keys = await self.jwks.keys(meta.jwks_uri)
        common = {
            "algorithms": meta.id_token_algs,
            "issuer": meta.issuer,
            "client_id": self.client.client_id,
            "nonce": nonce,
            "now": now,
        }
        try:
            return verify_id_token(token, key_set=keys, **common)  # type: ignore[arg-type]
        except UnknownKeyId as exc:
            keys = await self.jwks.keys(meta.jwks_uri, want_kid=exc.kid)
            return verify_id_token(token, key_set=keys, **common)  # type: ignore[arg-type]

    @classmethod
    def for_settings(cls, base: Foundation) -> Provider:
        """The provider the settings name, reached through `base`'s HTTP client and clock."""
        settings = base.settings
        # No secret: a public client, which Authlib authenticates with `none` (client_id only).
        secret = (
            None
            if settings.is_public_client or settings.whop_client_secret is None
            else settings.whop_client_secret.get_secret_value()
        )
        return cls(
            discovery=Discovery(issuer=settings.issuer, http=base.http, clock=base.clock),
            jwks=JwksCache(http=base.http, clock=base.clock),
            client=OAuthClient(
                client_id=settings.whop_client_id,
                client_secret=secret,
                http=base.http,
            ),
        )
