"""All mutable state of one provider, behind one lock.

The tornado thread mutates it while tests read it from theirs, hence the re-entrant lock
that every method takes (handlers also hold it across a whole authlib call).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterable, Mapping

from .models import (
    AuthorizationCode,
    Grant,
    ProviderClient,
    RegisteredClient,
    SignedInUser,
    TokenRecord,
    TokenView,
    User,
    default_scopes,
)


class ProviderState:
    """All mutable state of one provider. Every method takes the lock itself."""

    def __init__(self, clients: Iterable[ProviderClient], users: Mapping[str, str]):
        self.lock = threading.RLock()
        self._clients: dict[str, RegisteredClient] = {}
        for client in clients:
            self.add_client(client)
        self._passwords = dict(users)
        self._sessions: dict[str, SignedInUser] = {}
        self._codes: dict[str, AuthorizationCode] = {}
        self._nonces: set[tuple[str, str]] = set()
        self._grants: dict[str, Grant] = {}
        self._by_access: dict[str, TokenRecord] = {}
        self._by_refresh: dict[str, TokenRecord] = {}

    # clients and people -------------------------------------------------------------

    def add_client(self, client: ProviderClient) -> None:
        with self.lock:
            self._clients[client.client_id] = RegisteredClient(client)

    def client(self, client_id: str | None) -> RegisteredClient | None:
        with self.lock:
            return self._clients.get(client_id) if client_id else None

    def all_scopes(self) -> list[str]:
        with self.lock:
            scopes = dict.fromkeys(default_scopes())
            for client in self._clients.values():
                scopes.update(dict.fromkeys(client.spec.scopes))
            return list(scopes)

    def check_password(self, username: str, password: str) -> User | None:
        with self.lock:
            expected = self._passwords.get(username)
        # Compare against something even for unknown names, so timing says nothing.
        candidate = expected if expected is not None else secrets.token_urlsafe(16)
        ok = secrets.compare_digest(candidate.encode(), password.encode())
        return User.named(username) if ok and expected is not None else None

    def open_session(self, user: User) -> str:
        session_id = secrets.token_urlsafe(32)
        with self.lock:
            self._sessions[session_id] = SignedInUser(user, int(time.time()))
        return session_id

    def session(self, session_id: str | None) -> SignedInUser | None:
        if not session_id:
            return None
        with self.lock:
            return self._sessions.get(session_id)

    # authorization codes ----------------------------------------------------------

    def save_code(self, code: AuthorizationCode) -> None:
        now = time.time()
        with self.lock:
            for stale in [c for c, item in self._codes.items() if item.expires_at <= now]:
                del self._codes[stale]
            self._codes[code.code] = code
            if code.nonce:
                self._nonces.add((code.client_id, code.nonce))

    def nonce_used(self, client_id: str, nonce: str) -> bool:
        with self.lock:
            return (client_id, nonce) in self._nonces

    def find_code(self, code: str, client_id: str) -> AuthorizationCode | None:
        with self.lock:
            item = self._codes.get(code)
            if item is None or item.client_id != client_id or item.expires_at <= time.time():
                return None
            if item.used_by_grant is not None:
                # RFC 6749 4.1.2: a code used twice revokes what it produced.
                self.revoke_grant(item.used_by_grant)
                return None
            return item

    # grants and tokens ------------------------------------------------------------

    def open_grant(self, client_id: str, user: User, scope: str) -> Grant:
        grant = Grant(secrets.token_urlsafe(12), client_id, user, scope)
        with self.lock:
            self._grants[grant.grant_id] = grant
        return grant

    def save_record(self, record: TokenRecord) -> None:
        with self.lock:
            self._by_access[record.access_token] = record
            if record.refresh_token:
                self._by_refresh[record.refresh_token] = record

    def find_refresh(self, refresh_token: str) -> TokenRecord | None:
        """The record of a usable refresh token; reuse of a rotated one revokes its grant."""
        with self.lock:
            record = self._by_refresh.get(refresh_token)
            if record is None:
                return None
            if record.refresh_rotated and not record.grant.revoked:
                self.revoke_grant(record.grant.grant_id)
            return record if record.refresh_active(time.time()) else None

    def find_access(self, access_token: str) -> TokenRecord | None:
        """The record of an access token that is still good."""
        with self.lock:
            record = self._by_access.get(access_token)
            return record if record and record.access_active(time.time()) else None

    def find_token(self, token: str) -> TokenView | None:
        with self.lock:
            if record := self._by_access.get(token):
                return TokenView(record, "access_token")
            if record := self._by_refresh.get(token):
                return TokenView(record, "refresh_token")
            return None

    def rotate(self, record: TokenRecord) -> None:
        with self.lock:
            record.refresh_rotated = True

    def revoke_access(self, record: TokenRecord) -> None:
        with self.lock:
            record.access_revoked = True

    def revoke_grant(self, grant_id: str) -> None:
        with self.lock:
            grant = self._grants.get(grant_id)
            if grant is None:
                return
            grant.revoked = True
            for record in self._by_access.values():
                if record.grant is grant:
                    record.access_revoked = True
                    record.refresh_revoked = True
