"""The encrypted token store: one SQLite file per user, shared by all of that user's servers.

Why it is built this way:

- Rollback journal with ``synchronous=FULL``, not WAL: WAL needs shared memory that network home
  directories (NFS, common under JupyterHub) lack, and writes are rare (sign-in, refresh). Each
  write is one ``BEGIN IMMEDIATE ... COMMIT``: a process killed mid-write leaves a hot journal the
  next reader rolls back, so the file holds the old state or the new one, never a mix.
- Access and refresh token are one Fernet ciphertext whose plaintext also names the integration:
  the pair is never torn apart, nor read as another integration's. Ciphertexts have their own
  table; what a listing needs (expiry, account, encrypting key's id) is in clear in small rows, so
  ``summaries()`` reads a few pages and never decrypts.
- ``generation`` grows on every save and survives sign-outs (a tombstone row keeps it), so a
  refresh that raced a sign-out, or a sign-out and a new sign-in, loses its ``if_generation`` save.
- One connection behind a lock: the event loop calls in, where connecting would cost more than
  the query; ``check_same_thread=False`` lets worker threads in too.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from .filelock import FileLock, RefreshLock, ensure_private_dir, move_aside, open_private_file
from .keys import KEY_ENV, checked_key, key_id, resolve_keys

# Key resolution and the lock live in their own modules; the server extension imports them here.
__all__ = ["KEY_ENV", "RefreshLock", "StoreError", "StoredTokens", "TokenStore", "TokenSummary"]
__all__ += ["key_id", "resolve_keys"]

SCHEMA_VERSION = 1
BUSY_TIMEOUT = 10.0  # seconds another process may hold the write lock before we give up
_LOG = logging.getLogger(__name__)
_T = TypeVar("_T")


@dataclass(frozen=True)
class StoredTokens:
    """One integration's tokens. ``repr`` hides the secrets so a stray log line cannot leak them."""

    integration_id: str
    access_token: str = field(repr=False)
    token_type: str = "Bearer"  # noqa: S105 (a token type, not a secret)
    refresh_token: str | None = field(default=None, repr=False)
    scope: str | None = None
    expires_at: float | None = None  # epoch seconds; None: the provider sent no expires_in
    obtained_at: float = 0.0
    account: str | None = None  # who signed in; display only, stored in clear
    generation: int = 0  # set by the store; grows on every save of this integration


@dataclass(frozen=True)
class TokenSummary:
    """What a listing of integrations needs, read without decrypting anything."""

    integration_id: str
    signed_in: bool  # tokens exist, encrypted with one of the configured keys
    expires_at: float | None
    has_refresh_token: bool
    account: str | None
    reason: str | None  # why the user must sign in again (mark_signed_out), else None


class StoreError(Exception):
    """The store could not do what was asked; the message is written for people."""


# SQLite codes -> words for people: FULL 13 (ENOSPC), IOERR_WRITE 778 (EDQUOT, EFBIG...), IOERR 10,
# READONLY 8, BUSY 5, LOCKED 6, CANTOPEN 14, CORRUPT 11, NOTADB 26.
_LOCKED = f"another process kept the store locked for more than {BUSY_TIMEOUT:g} s"
_DAMAGED = "the store file is damaged"
_WHY = {13: "the disk is full", 8: "the store file is read-only", 5: _LOCKED, 6: _LOCKED}
_WHY |= {778: "the disk refused the write (full, over quota, or a file size limit reached)"}
_WHY |= {10: "the disk could not be read or written (I/O error)", 14: "the store cannot be opened"}
_WHY |= {11: _DAMAGED, 26: _DAMAGED}


def _why(exc: sqlite3.Error) -> str:
    code = getattr(exc, "sqlite_errorcode", None) or -1
    return _WHY.get(code) or _WHY.get(code & 0xFF, "unexpected database error")


_SCHEMA = (
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    # key_id NULL marks a tombstone: signed out, generation kept, maybe a reason to show.
    "CREATE TABLE tokens (integration_id TEXT PRIMARY KEY, generation INTEGER NOT NULL,"
    " key_id TEXT, has_refresh_token INTEGER NOT NULL DEFAULT 0, token_type TEXT, scope TEXT,"
    " expires_at REAL, obtained_at REAL, account TEXT, reason TEXT, updated_at REAL NOT NULL)"
    " WITHOUT ROWID",
    # secret: Fernet(JSON {"i": integration id, "a": access token, "r": refresh token or null})
    "CREATE TABLE secrets (integration_id TEXT PRIMARY KEY REFERENCES tokens,"
    " secret TEXT NOT NULL)",
)
_UPSERT = (
    "INSERT OR REPLACE INTO tokens VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?)"  # schema order
)
_TOMBSTONE = """INSERT INTO tokens (integration_id, generation, reason, updated_at)
VALUES (?, 0, ?, ?) ON CONFLICT (integration_id) DO UPDATE SET key_id = NULL,
    has_refresh_token = 0, token_type = NULL, scope = NULL, expires_at = NULL, obtained_at = NULL,
    account = NULL, reason = excluded.reason, updated_at = excluded.updated_at"""
_ROW = """SELECT t.generation, s.secret, t.token_type, t.scope, t.expires_at, t.obtained_at,
    t.account FROM tokens AS t JOIN secrets AS s USING (integration_id)
WHERE t.integration_id = ? AND t.key_id IS NOT NULL"""
_GENERATION = "SELECT generation, key_id IS NOT NULL FROM tokens WHERE integration_id = ?"
_LIST = """SELECT integration_id, key_id, expires_at, has_refresh_token, account, reason
FROM tokens WHERE key_id IS NOT NULL OR reason IS NOT NULL"""


class TokenStore:
    """Encrypted tokens of every integration, safe to share between processes.

    Each method is one short transaction, fast enough to call on the event loop; none waits for
    the network. ``refresh_lock`` gives the lock a refresh holds across its HTTP call.
    """

    def __init__(
        self, path: Path, keys: Sequence[str], *, log: logging.Logger | None = None
    ) -> None:
        if isinstance(keys, str) or not keys:
            raise ValueError("TokenStore needs a list of at least one encryption key")
        checked = [checked_key(k, f"encryption key #{i}") for i, k in enumerate(keys, 1)]
        self.path = Path(path)
        self._log = log or _LOG
        self._fernet = MultiFernet([Fernet(k) for k in checked])
        self._key_id = key_id(checked[0])
        self._key_ids = frozenset(key_id(k) for k in checked)
        self._lock_dir = Path(f"{self.path}.locks")
        self._guard = threading.RLock()
        self._warned: set[str] = set()
        # summaries() cache: (data_version, summary by row, summary by integration id)
        self._listing: tuple[int, dict[Any, TokenSummary], dict[str, TokenSummary]] | None = None
        try:
            ensure_private_dir(self.path.parent)
            ensure_private_dir(self._lock_dir)
            # One opener at a time across processes, so that two servers finding a damaged file
            # do not both move "it" aside (the second would move the first one's fresh store).
            with FileLock(self._lock_dir / "store-open.lock"):
                self._conn: sqlite3.Connection | None = self._open()
        except OSError as exc:
            raise StoreError(f"could not open the token store {self.path}: {exc}") from exc

    def _open(self) -> sqlite3.Connection:
        for attempt in (1, 2):
            os.close(open_private_file(self.path))  # 0600 before SQLite creates it, umask or not
            conn = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False
            )
            problem: str | None = "interrupted"
            try:
                problem = self._prepare(conn)
            except sqlite3.DatabaseError as exc:
                problem = str(exc)
                if _why(exc) != _DAMAGED:  # locked, unreadable...: not a reason to discard it
                    raise StoreError(
                        f"could not open the token store: {_why(exc)} ({self.path}: {exc})"
                    ) from exc
            finally:
                if problem is not None:
                    conn.close()
            if problem is None:
                return conn
            if attempt == 2:
                raise StoreError(f"could not create a token store at {self.path}: {problem}")
            aside = move_aside(self.path, "corrupt")
            self._log.warning(
                "jupyter_creds: the token store %s is damaged or not a token store (%s); moved it "
                "to %s and started an empty one: users must sign in to their integrations again",
                *(self.path, problem, aside),
            )
        raise AssertionError("unreachable")  # pragma: no cover

    def _prepare(self, conn: sqlite3.Connection) -> str | None:
        """Check the file and create the schema; return what is wrong with it, or None."""
        conn.execute("PRAGMA journal_mode=DELETE")
        conn.execute("PRAGMA synchronous=FULL")
        # Zero freed pages: no ciphertext under a retired key lingers after rotate_keys().
        conn.execute("PRAGMA secure_delete=ON")
        check = conn.execute("PRAGMA quick_check").fetchall()
        if check != [("ok",)]:
            return f"integrity check failed: {str(check[0][0])[:200]}"
        conn.execute("BEGIN IMMEDIATE")
        try:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
            if not tables:
                for statement in _SCHEMA:
                    conn.execute(statement)
                conn.execute("INSERT INTO meta VALUES ('schema_version', ?)", (SCHEMA_VERSION,))
            elif not {"meta", "tokens", "secrets"} <= tables:
                return "not a jupyter_creds token store"
            else:
                row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
                if row is None or not str(row[0]).isdigit():
                    return "no schema version recorded"
                if int(row[0]) > SCHEMA_VERSION:
                    raise StoreError(
                        f"the token store {self.path} was written by a newer jupyter_creds "
                        f"(schema {row[0]}; this one reads {SCHEMA_VERSION}): upgrade "
                        "jupyter_creds, or move the file away and sign in again"
                    )
            conn.execute("COMMIT")
        finally:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        return None

    def _run(self, doing: str, work: Callable[[sqlite3.Connection], _T], *, writes: bool) -> _T:
        """Run ``work`` under the connection guard; SQLite errors become a StoreError."""
        with self._guard:
            conn = self._conn
            if conn is None:
                raise StoreError(f"could not {doing}: the token store is closed")
            if writes:
                self._listing = None  # our own commits do not move data_version
            try:
                return work(conn)
            except sqlite3.Error as exc:
                tail = "; the previous tokens are unchanged" if writes else ""
                raise StoreError(
                    f"could not {doing}: {_why(exc)} ({self.path}: {exc}){tail}"
                ) from exc
            finally:
                if conn.in_transaction:  # SQLite rolls back by itself after some errors only
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")

    def _decode(self, integration_id: str, row: Sequence[Any]) -> StoredTokens | None:
        generation, secret, token_type, scope, expires_at, obtained_at, account = row
        try:
            payload = json.loads(self._fernet.decrypt(secret.encode("ascii")))
            access, refresh = payload["a"], payload["r"]
            if payload["i"] != integration_id or not isinstance(access, str):
                raise InvalidToken
        except (InvalidToken, ValueError, TypeError, KeyError, AttributeError):
            if integration_id not in self._warned:
                self._warned.add(integration_id)
                self._log.warning(
                    "jupyter_creds: stored tokens for %s cannot be decrypted with the configured "
                    "keys (%s changed?); sign in again",
                    *(integration_id, KEY_ENV),
                )
            return None
        return StoredTokens(
            integration_id, access, token_type or "Bearer", refresh, scope, expires_at,
            obtained_at or 0.0, account, generation,
        )  # fmt: skip

    def get(self, integration_id: str) -> StoredTokens | None:
        """The tokens, or None when there are none or they can't be decrypted (logged once)."""
        read = lambda c: c.execute(_ROW, (integration_id,)).fetchone()  # noqa: E731
        row = self._run("read tokens", read, writes=False)
        return None if row is None else self._decode(integration_id, row)

    def summaries(self) -> dict[str, TokenSummary]:
        """Every integration with tokens or a sign-in-again reason; one SELECT, no decryption.

        Every open sidebar polls this, so the answer is kept while the file is unchanged (``PRAGMA
        data_version`` moves on other connections' commits; our own writes drop it), and rows that
        did not change keep their summary objects.
        """

        def read(conn: sqlite3.Connection) -> dict[str, TokenSummary]:
            version = conn.execute("PRAGMA data_version").fetchone()[0]
            listing = self._listing
            if listing is None or listing[0] != version:
                before, ids = listing[1] if listing else {}, self._key_ids
                by_row = {
                    r: before.get(r) or TokenSummary(r[0], r[1] in ids, r[2], bool(r[3]), *r[4:])
                    for r in conn.execute(_LIST).fetchall()
                }
                by_id = {summary.integration_id: summary for summary in by_row.values()}
                self._listing = listing = (version, by_row, by_id)
            return dict(listing[2])

        return self._run("list tokens", read, writes=False)

    def save(
        self, tokens: StoredTokens, *, if_generation: int | None = None
    ) -> StoredTokens | None:
        """Store ``tokens`` atomically; return them with their new generation.

        With ``if_generation``, store only if tokens of exactly that generation are there now (a
        sign-out in between is a mismatch too) and return None otherwise. Clears the sign-in-again
        reason.
        """
        t = tokens
        if not all(isinstance(v, str) and v for v in (t.integration_id, t.access_token)):
            raise ValueError("StoredTokens needs a non-empty integration_id and access_token")
        if not isinstance(t.refresh_token, str | None):
            raise ValueError("StoredTokens.refresh_token must be a string or None")
        plain = json.dumps({"i": t.integration_id, "a": t.access_token, "r": t.refresh_token})
        secret = self._fernet.encrypt(plain.encode()).decode("ascii")  # outside the transaction

        def write(conn: sqlite3.Connection) -> int | None:
            conn.execute("BEGIN IMMEDIATE")
            row = conn.execute(_GENERATION, (t.integration_id,)).fetchone()
            if if_generation is not None and (row is None or not row[1] or row[0] != if_generation):
                return None  # _run rolls back
            generation = (row[0] if row else 0) + 1
            conn.execute(_UPSERT, (
                t.integration_id, generation, self._key_id, int(t.refresh_token is not None),
                t.token_type, t.scope, t.expires_at, t.obtained_at, t.account, time.time(),
            ))  # fmt: skip
            conn.execute("INSERT OR REPLACE INTO secrets VALUES (?, ?)", (t.integration_id, secret))
            conn.execute("COMMIT")
            return generation

        generation = self._run("save tokens", write, writes=True)
        if generation is None:
            return None
        self._warned.discard(t.integration_id)
        return dataclasses.replace(t, generation=generation)

    def _sign_out(
        self, doing: str, integration_id: str, reason: str | None, if_generation: int | None
    ) -> tuple[bool, Sequence[Any] | None]:
        def write(conn: sqlite3.Connection) -> tuple[bool, Sequence[Any] | None]:
            conn.execute("BEGIN IMMEDIATE")
            row = conn.execute(_ROW, (integration_id,)).fetchone()
            if if_generation is not None and (row is None or row[0] != if_generation):
                return False, None  # _run rolls back
            conn.execute(_TOMBSTONE, (integration_id, reason, time.time()))
            conn.execute("DELETE FROM secrets WHERE integration_id = ?", (integration_id,))
            conn.execute("COMMIT")
            return True, row

        return self._run(doing, write, writes=True)

    def delete(self, integration_id: str) -> StoredTokens | None:
        """Remove the tokens; return what was there (decrypted if possible) to revoke it."""
        _, row = self._sign_out("delete tokens", integration_id, None, None)
        return None if row is None else self._decode(integration_id, row)

    def mark_signed_out(
        self, integration_id: str, reason: str, *, if_generation: int | None = None
    ) -> bool:
        """Remove the tokens and remember why the user must sign in again; True if it acted.

        ``reason`` is shown to people and stored in clear: no provider response or token in it.
        With ``if_generation``, act only while tokens of that generation are there, so that an
        ``invalid_grant`` answering an old refresh cannot sign out a newer sign-in.
        """
        return self._sign_out("sign out", integration_id, reason, if_generation)[0]

    def rotate_keys(self) -> int:
        """Re-encrypt every stored token with the first key, in one transaction; return the count.

        Rows no configured key can read stay as they are (those users sign in again), logged.
        """
        unreadable: list[str] = []

        def write(conn: sqlite3.Connection) -> int:
            conn.execute("BEGIN IMMEDIATE")
            rotated = []
            for integration_id, secret in conn.execute(
                "SELECT integration_id, secret FROM secrets"
            ).fetchall():
                try:
                    rotated.append((self._fernet.rotate(secret.encode()).decode(), integration_id))
                except InvalidToken:
                    unreadable.append(integration_id)
            conn.executemany("UPDATE secrets SET secret = ? WHERE integration_id = ?", rotated)
            key = [(self._key_id, integration_id) for _, integration_id in rotated]
            conn.executemany("UPDATE tokens SET key_id = ? WHERE integration_id = ?", key)
            conn.execute("COMMIT")
            return len(rotated)

        count = self._run("re-encrypt tokens", write, writes=True)
        if unreadable:
            self._log.warning(
                "jupyter_creds: %d stored token(s) cannot be decrypted with the configured keys, "
                "left as they are (integrations: %s); those users must sign in again",
                *(len(unreadable), ", ".join(sorted(unreadable))),
            )
        return count

    def refresh_lock(self, integration_id: str) -> RefreshLock:
        """The cross-process lock for refreshing ``integration_id``, not yet acquired."""
        name = hashlib.sha256(integration_id.encode()).hexdigest()[:32]
        return RefreshLock(self._lock_dir / f"{name}.lock", integration_id)

    def close(self) -> None:
        """Close the database connection; later calls raise StoreError."""
        with self._guard:
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
