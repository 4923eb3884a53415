"""authlib's authorization server, wired to tornado requests and the in-memory state.

authlib ships no tornado integration, so this module supplies the framework half:
turning a request into an ``OAuth2Request`` and the ``(status, body, headers)`` triples
back into something a handler can write.
"""

from __future__ import annotations

import json
import logging
import math
import secrets
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Protocol

from authlib.oauth2.rfc6749 import (
    AuthorizationServer,
    InvalidRequestError,
    JsonPayload,
    JsonRequest,
    OAuth2Payload,
    OAuth2Request,
    grants,
)
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oauth2.rfc9207 import IssuerParameter
from authlib.oidc.core import OpenIDCode
from joserfc.jwk import RSAKey

from .models import (
    CODE_LIFETIME,
    AuthorizationCode,
    RegisteredClient,
    SignedInUser,
    TokenRecord,
    TokenView,
)
from .state import ProviderState

#: How long an id_token is good for; independent of the (often tiny) access token lifetime.
ID_TOKEN_LIFETIME = 600
CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]


class DropTokenRecords(logging.Filter):
    """authlib's grants log whole token responses at DEBUG ("Issue token %r"): drop those."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(("Issue token", "Grant token"))


def _silence_authlib_token_logs() -> None:
    for name in (
        "authlib.oauth2.rfc6749.grants.authorization_code",
        "authlib.oauth2.rfc6749.grants.refresh_token",
    ):
        logger = logging.getLogger(name)
        if not any(type(f).__name__ == DropTokenRecords.__name__ for f in logger.filters):
            logger.addFilter(DropTokenRecords())


_silence_authlib_token_logs()


class ProviderSettings(Protocol):
    """What the server reads from its owner at request time (tests change some of it)."""

    issuer: str
    token_lifetime: float
    refresh_token_lifetime: float
    issue_refresh_tokens: bool
    send_expires_in: bool


@dataclass
class IncomingRequest:
    """The parts of a tornado request that authlib looks at."""

    method: str
    uri: str
    headers: Any
    params: dict[str, list[str]]
    # the query string of an authorization request, whatever the HTTP method
    query: dict[str, list[str]] = field(default_factory=dict)


class _Payload(OAuth2Payload, JsonPayload):
    def __init__(self, params: dict[str, list[str]]):
        self._datalist = defaultdict(list, {k: list(v) for k, v in params.items()})
        self._data = {k: v[0] for k, v in params.items() if v}

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> defaultdict[str, list]:
        return self._datalist


class TornadoOAuth2Request(OAuth2Request):
    def __init__(self, incoming: IncomingRequest):
        super().__init__(incoming.method, incoming.uri, headers=incoming.headers)
        self.payload = _Payload(incoming.params)
        self._query = _Payload(incoming.query)

    @property
    def args(self) -> dict[str, str]:
        return self._query.data

    @property
    def form(self) -> dict[str, str]:
        return self.payload.data


@dataclass
class OAuthResponse:
    """What authlib's ``handle_response`` produces; ``location`` is what RFC 9207's hook edits."""

    status: int
    body: Any
    headers: list[tuple[str, str]]

    @property
    def location(self) -> str | None:
        return next((v for k, v in self.headers if k.lower() == "location"), None)

    @location.setter
    def location(self, value: str) -> None:
        self.headers = [(k, v) for k, v in self.headers if k.lower() != "location"]
        self.headers.append(("Location", value))

    def text(self) -> str:
        if isinstance(self.body, dict):
            return json.dumps(self.body)
        return self.body or ""


class S256Required(CodeChallenge):
    """PKCE for every client, S256 only (authlib alone would accept a request without it)."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant, redirect_uri):
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: missing 'code_challenge'.")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("PKCE 'code_challenge_method' must be 'S256'.")
        super().validate_code_challenge(grant, redirect_uri)


class ProviderOpenIDCode(OpenIDCode):
    """id_tokens signed with the provider key through joserfc (never authlib.jose)."""

    def __init__(self, server: ProviderAuthorizationServer):
        super().__init__(require_nonce=False)
        self.server = server

    def exists_nonce(self, nonce, request):
        return self.server.state.nonce_used(request.payload.client_id, nonce)

    def resolve_client_private_key(self, client):
        return self.server.key

    def get_client_algorithm(self, client):
        return "RS256"

    def get_encode_header(self, client):
        return {"alg": "RS256", "kid": self.server.key.kid}

    def get_client_claims(self, client):
        return {
            "iss": self.server.settings.issuer,
            "aud": client.get_client_id(),
            "exp": int(time.time()) + ID_TOKEN_LIFETIME,
        }

    def generate_user_info(self, user, scope):
        # A demo provider: every claim every time, so "who is signed in" always has an answer.
        return user.claims()


class CodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = CLIENT_AUTH_METHODS

    def save_authorization_code(self, code, request):
        data = request.payload.data
        signed_in: SignedInUser = request.user
        self.server.state.save_code(
            AuthorizationCode(
                code=code,
                client_id=request.client.get_client_id(),
                redirect_uri=request.payload.redirect_uri,
                scope=request.scope,
                signed_in=signed_in,
                nonce=data.get("nonce"),
                code_challenge=data.get("code_challenge"),
                code_challenge_method=data.get("code_challenge_method"),
                expires_at=time.time() + CODE_LIFETIME,
            )
        )

    def query_authorization_code(self, code, client):
        return self.server.state.find_code(code, client.get_client_id())

    def delete_authorization_code(self, authorization_code):
        # Kept (marked used) until it expires, so that a replay can be recognised.
        authorization_code.used_by_grant = self.request.grant_id

    def authenticate_user(self, authorization_code):
        return authorization_code.user


class RotatingRefreshGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = CLIENT_AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token):
        return self.server.state.find_refresh(refresh_token)

    def authenticate_user(self, refresh_token):
        return refresh_token.user

    def revoke_old_credential(self, refresh_token):
        # Without new refresh tokens the old one has to stay usable.
        if self.server.settings.issue_refresh_tokens:
            self.server.state.rotate(refresh_token)


class ProviderRevocation(RevocationEndpoint):
    CLIENT_AUTH_METHODS = CLIENT_AUTH_METHODS

    def query_token(self, token_string, token_type_hint):
        return self.server.state.find_token(token_string)

    def revoke_token(self, token: TokenView, request):
        if token.kind == "refresh_token":
            self.server.state.revoke_grant(token.record.grant.grant_id)
        else:
            self.server.state.revoke_access(token.record)


class ProviderIntrospection(IntrospectionEndpoint):
    CLIENT_AUTH_METHODS = CLIENT_AUTH_METHODS

    def query_token(self, token_string, token_type_hint):
        return self.server.state.find_token(token_string)

    def check_permission(self, token, client, request):
        return token.check_client(client)

    def introspect_token(self, token: TokenView):
        record = token.record
        payload = {
            "active": True,
            "client_id": record.client_id,
            "scope": record.scope,
            "sub": record.user.sub,
            "username": record.user.username,
            "iss": self.server.settings.issuer,
            "aud": record.client_id,
            "iat": int(record.issued_at),
            "exp": int(token.expires_at() or 0),
        }
        if token.kind == "access_token":
            payload["token_type"] = "Bearer"  # noqa: S105 - a token type, not a secret
        return payload


class ProviderIssuerParameter(IssuerParameter):
    def __init__(self, settings: ProviderSettings):
        self.settings = settings

    def get_issuer(self) -> str:
        return self.settings.issuer


class ProviderAuthorizationServer(AuthorizationServer):
    def __init__(self, state: ProviderState, settings: ProviderSettings, key: RSAKey):
        # Scopes are checked per client (RegisteredClient.get_allowed_scope).
        super().__init__(scopes_supported=None)
        self.state = state
        self.settings = settings
        self.key = key
        self.register_token_generator("default", self._generate_token)
        self.register_grant(CodeGrant, [S256Required(required=True), ProviderOpenIDCode(self)])
        self.register_grant(RotatingRefreshGrant)
        self.register_endpoint(ProviderRevocation)
        self.register_endpoint(ProviderIntrospection)
        self.register_extension(ProviderIssuerParameter(settings))

    # authlib's framework hooks --------------------------------------------------------

    def query_client(self, client_id: str) -> RegisteredClient | None:
        return self.state.client(client_id)

    def create_oauth2_request(self, request) -> OAuth2Request:
        if isinstance(request, OAuth2Request):
            return request
        return TornadoOAuth2Request(request)

    def create_json_request(self, request: IncomingRequest) -> JsonRequest:
        json_request = JsonRequest(request.method, request.uri, request.headers)
        json_request.payload = _Payload(request.params)
        return json_request

    def handle_response(self, status, body, headers) -> OAuthResponse:
        return OAuthResponse(status, body, list(headers))

    def send_signal(self, name, *args, **kwargs) -> None:
        """No signal system here; nothing listens."""

    # tokens ---------------------------------------------------------------------------

    def _generate_token(
        self, grant_type, client, user=None, scope=None, expires_in=None, include_refresh_token=True
    ) -> dict[str, Any]:
        settings = self.settings
        token: dict[str, Any] = {
            "access_token": secrets.token_urlsafe(32),
            "token_type": "Bearer",
            "scope": scope or "",
        }
        if settings.send_expires_in:
            # Round down: a client must never believe a token lives longer than it does.
            token["expires_in"] = max(1, math.floor(settings.token_lifetime))
        # A refresh descends from a grant that had offline_access, even if it narrows scope.
        offline = grant_type == "refresh_token" or "offline_access" in (scope or "").split()
        if settings.issue_refresh_tokens and include_refresh_token and offline:
            token["refresh_token"] = secrets.token_urlsafe(32)
        return token

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        now = time.time()
        settings = self.settings
        if request.refresh_token is not None:
            grant = request.refresh_token.grant
        else:
            code: AuthorizationCode = request.authorization_code
            grant = self.state.open_grant(code.client_id, code.user, code.scope)
            request.grant_id = grant.grant_id
        refresh = token.get("refresh_token")
        self.state.save_record(
            TokenRecord(
                access_token=token["access_token"],
                refresh_token=refresh,
                client_id=request.client.get_client_id(),
                scope=token["scope"],
                grant=grant,
                issued_at=now,
                expires_at=now + settings.token_lifetime,
                refresh_expires_at=now + settings.refresh_token_lifetime if refresh else None,
            )
        )

    def token_record(self, access_token: str) -> TokenRecord | None:
        return self.state.find_access(access_token)
