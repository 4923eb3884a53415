"""Records of the embedded provider: clients, users, sessions, codes, grants, tokens.

:class:`~.state.ProviderState` holds them. Nothing here is ever logged: the reprs of records
that carry secrets are written by hand to leave the secrets out.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from ipaddress import ip_address
from urllib.parse import urlsplit

from authlib.oauth2.rfc6749 import ClientMixin, TokenMixin, list_to_scope, scope_to_list
from authlib.oidc.core import AuthorizationCodeMixin

AUTH_METHODS = ("client_secret_basic", "client_secret_post", "none")
#: Authorization codes are single use and short lived (RFC 6749 4.1.2 recommends <= 10 min).
CODE_LIFETIME = 60.0
LOOPBACK_HOSTS = ("localhost",)


def default_scopes() -> list[str]:
    return ["openid", "profile", "email", "offline_access"]


@dataclass
class ProviderClient:
    """An OAuth client registered at the embedded provider."""

    client_id: str
    # None makes a public client: no secret, PKCE only.
    client_secret: str | None = field(default=None, repr=False)
    # A loopback redirect URI (127.0.0.1, localhost, [::1]) matches any port (RFC 8252 7.3).
    redirect_uris: list[str] = field(default_factory=list)
    scopes: list[str] = field(default_factory=default_scopes)
    token_endpoint_auth_method: str = "client_secret_basic"  # noqa: S105 - a method name

    def __post_init__(self) -> None:
        if not self.client_id:
            raise ValueError("ProviderClient needs a client_id")
        if self.token_endpoint_auth_method not in AUTH_METHODS:
            raise ValueError(
                f"token_endpoint_auth_method must be one of {', '.join(AUTH_METHODS)}, "
                f"not {self.token_endpoint_auth_method!r}"
            )

    @property
    def is_public(self) -> bool:
        method = self.token_endpoint_auth_method
        return self.client_secret is None or method == "none"

    @property
    def effective_auth_method(self) -> str:
        return "none" if self.is_public else self.token_endpoint_auth_method


def is_loopback_host(host: str | None) -> bool:
    if not host:
        return False
    host = host.strip("[]").lower()
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


def redirect_uri_matches(registered: str, requested: str) -> bool:
    """Exact match, except that loopback http URIs ignore the port (RFC 8252 7.3)."""
    if secrets.compare_digest(registered.encode(), requested.encode()):
        return True
    try:
        reg, req = urlsplit(registered), urlsplit(requested)
        reg.port, req.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        return False
    if reg.scheme != "http" or not is_loopback_host(reg.hostname):
        return False
    return (
        req.scheme == "http"
        and req.hostname == reg.hostname
        and req.username is None
        and req.password is None
        and req.path == reg.path
        and req.query == reg.query
        and not req.fragment
    )


class RegisteredClient(ClientMixin):
    """authlib's view of a :class:`ProviderClient`."""

    def __init__(self, spec: ProviderClient):
        self.spec = spec
        self.client_id = spec.client_id

    def __repr__(self) -> str:
        return f"<RegisteredClient {self.client_id!r}>"

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        # Only an unambiguous registration may be used without an explicit redirect_uri.
        uris = self.spec.redirect_uris
        return uris[0] if len(uris) == 1 else None

    def get_allowed_scope(self, scope: str | None) -> str | None:
        allowed = self.spec.scopes
        if not scope:
            return list_to_scope(allowed)
        requested = scope_to_list(scope)
        if any(item not in allowed for item in requested):
            return None  # authlib turns this into invalid_scope
        return list_to_scope(list(dict.fromkeys(requested)))

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return any(redirect_uri_matches(uri, redirect_uri) for uri in self.spec.redirect_uris)

    def check_client_secret(self, client_secret: str) -> bool:
        expected = self.spec.client_secret
        if expected is None or client_secret is None:
            return False
        return secrets.compare_digest(expected.encode(), client_secret.encode())

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if endpoint == "token":
            return method == self.spec.effective_auth_method
        # Revocation and introspection: a public client names itself; a confidential one
        # proves its secret either way.
        if self.spec.is_public:
            return method == "none"
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in ("authorization_code", "refresh_token")


@dataclass(frozen=True)
class User:
    username: str
    sub: str
    email: str
    name: str

    @classmethod
    def named(cls, username: str) -> User:
        if username == "demo":
            return cls("demo", "demo-user", "demo@example.com", "Demo User")
        return cls(username, f"{username}-user", f"{username}@example.com", username.title())

    def claims(self) -> dict[str, str]:
        return {
            "sub": self.sub,
            "email": self.email,
            "preferred_username": self.username,
            "name": self.name,
        }


@dataclass(frozen=True)
class SignedInUser:
    """The person behind a provider login session."""

    user: User
    auth_time: int


@dataclass(repr=False)
class AuthorizationCode(AuthorizationCodeMixin):
    code: str
    client_id: str
    redirect_uri: str | None
    scope: str
    signed_in: SignedInUser
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    expires_at: float
    used_by_grant: str | None = None

    def __repr__(self) -> str:
        return f"<AuthorizationCode client={self.client_id!r}>"

    @property
    def user(self) -> User:
        return self.signed_in.user

    def get_redirect_uri(self) -> str | None:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.signed_in.auth_time


@dataclass
class Grant:
    """One consent, and every token that descends from it through refreshes."""

    grant_id: str
    client_id: str
    user: User
    scope: str
    revoked: bool = False


@dataclass(repr=False)
class TokenRecord(TokenMixin):
    """One token response: an access token and maybe a refresh token."""

    access_token: str
    refresh_token: str | None
    client_id: str
    scope: str
    grant: Grant
    issued_at: float
    expires_at: float
    refresh_expires_at: float | None
    access_revoked: bool = False
    refresh_rotated: bool = False
    refresh_revoked: bool = False

    def __repr__(self) -> str:
        return f"<TokenRecord client={self.client_id!r} grant={self.grant.grant_id!r}>"

    @property
    def user(self) -> User:
        return self.grant.user

    def check_client(self, client: ClientMixin) -> bool:
        return self.client_id == client.get_client_id()

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return max(0, int(self.expires_at - self.issued_at))

    def access_active(self, now: float) -> bool:
        return not (self.grant.revoked or self.access_revoked or now >= self.expires_at)

    def refresh_active(self, now: float) -> bool:
        if self.refresh_token is None or self.refresh_expires_at is None:
            return False
        if self.grant.revoked or self.refresh_revoked or self.refresh_rotated:
            return False
        return now < self.refresh_expires_at


@dataclass(repr=False)
class TokenView(TokenMixin):
    """A record seen through one of its two tokens, for revocation and introspection."""

    record: TokenRecord
    kind: str  # "access_token" or "refresh_token"

    def __repr__(self) -> str:
        return f"<TokenView {self.kind} {self.record!r}>"

    @property
    def client_id(self) -> str:
        return self.record.client_id

    def check_client(self, client: ClientMixin) -> bool:
        return self.record.check_client(client)

    def get_scope(self) -> str:
        return self.record.scope

    def get_expires_in(self) -> int:
        return self.record.get_expires_in()

    def expires_at(self) -> float | None:
        if self.kind == "access_token":
            return self.record.expires_at
        return self.record.refresh_expires_at

    def is_expired(self) -> bool:
        expires_at = self.expires_at()
        return expires_at is not None and time.time() >= expires_at

    def is_revoked(self) -> bool:
        record = self.record
        if record.grant.revoked:
            return True
        if self.kind == "access_token":
            return record.access_revoked
        return record.refresh_revoked or record.refresh_rotated

    def get_user(self) -> User:
        return self.record.user
