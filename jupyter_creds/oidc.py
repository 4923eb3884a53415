"""OpenID Connect checks for a sign-in: id_token validation (joserfc) and the signed-in account."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from .config import Integration
from .oauth import OAuthClient, ProviderFailure

if TYPE_CHECKING:  # joserfc is imported by the first sign-in, not at server start-up
    from joserfc.jwk import KeySet

ID_TOKEN_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA")
# Allowed clock difference with the provider, in seconds.
CLOCK_SKEW = 60


class IdTokenError(Exception):
    """The id_token failed validation. The message says which check failed, never the token."""


class JwksCache:
    """JWKS per jwks_uri; fetched again once when a token names a key id we don't have."""

    def __init__(self, oauth: OAuthClient, max_age: float = 3600.0):
        self._oauth = oauth
        self._max_age = max_age
        self._sets: dict[str, tuple[KeySet, float]] = {}

    async def get(self, uri: str, *, kid: str | None) -> KeySet:
        from joserfc.errors import JoseError
        from joserfc.jwk import KeySet

        cached = self._sets.get(uri)
        if cached and time.monotonic() - cached[1] < self._max_age:
            keys = cached[0]
            if kid is None or any(k.kid == kid for k in keys.keys):
                return keys
        try:
            data = await self._oauth.get_json(uri)
            keys = KeySet.import_key_set(data)  # type: ignore[arg-type]
        except ProviderFailure as e:
            raise IdTokenError(f"can't fetch the provider's signing keys from {uri}: {e}") from None
        except (JoseError, ValueError, TypeError, KeyError):
            raise IdTokenError(
                f"the provider's signing keys at {uri} are not a valid JWKS"
            ) from None
        self._sets[uri] = (keys, time.monotonic())
        return keys


async def validate_id_token(
    id_token: str, *, integ: Integration, nonce: str, jwks: JwksCache
) -> dict[str, Any]:
    """Check signature (JWKS), iss, aud, azp, nonce, exp and iat; return the claims."""
    from joserfc import jws, jwt
    from joserfc.errors import JoseError

    if not integ.jwks_uri:
        raise IdTokenError(
            "the provider returned an id_token but no JWKS is known to check it: set `issuer` "
            "so that discovery finds the provider's jwks_uri"
        )
    try:
        header = jws.extract_compact(id_token.encode()).headers()  # unverified: picks the key
    except (JoseError, ValueError):
        raise IdTokenError("the id_token is not a well-formed JWT") from None
    keys = await jwks.get(integ.jwks_uri, kid=header.get("kid"))
    try:
        token = jwt.decode(id_token, keys, algorithms=list(ID_TOKEN_ALGORITHMS))
    except (JoseError, ValueError):
        raise IdTokenError(
            "the id_token's signature does not verify with the provider's keys"
        ) from None
    claims = token.claims
    registry = jwt.JWTClaimsRegistry(
        leeway=CLOCK_SKEW,
        iss={"essential": True, "value": integ.issuer},
        sub={"essential": True},
        exp={"essential": True},
        iat={"essential": True},
        nonce={"essential": True, "value": nonce},
    )
    try:
        registry.validate(claims)
    except JoseError as e:
        claim = getattr(e, "claim", None) or type(e).__name__
        raise IdTokenError(f"the id_token failed the {claim!s} check") from None
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if integ.client_id not in audiences:
        raise IdTokenError("the id_token was issued for another client (aud)")
    if len(audiences) > 1 and claims.get("azp") != integ.client_id:
        raise IdTokenError("the id_token's authorized party (azp) is not this client")
    return dict(claims)


def account_from(claims: dict[str, Any] | None) -> str | None:
    """Who is signed in, the way a person recognizes it."""
    if not claims:
        return None
    for key in ("email", "preferred_username", "upn", "name", "sub"):
        value = claims.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()[:200]
    return None
