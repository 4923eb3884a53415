"""The kernel client's token cache: a loop that asks for a token per request stays cheap.

A token is reused for at most ``cache_ttl`` seconds (so a sign-out shows within that bound) and
never closer to its expiry than ``EXPIRY_LEEWAY`` (at most half its remaining life), so a caller
always gets a token with time left to use it. "Not signed in" is never cached: after a sign-in,
the next call sees it.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

__all__ = ["CACHE_TTL_ENV", "DEFAULT_CACHE_TTL", "EXPIRY_LEEWAY", "TokenCache", "resolve_cache_ttl"]

CACHE_TTL_ENV = "JUPYTER_CREDS_CACHE_TTL"
DEFAULT_CACHE_TTL = 5.0
EXPIRY_LEEWAY = 30.0


class TokenCache:
    """Credentials per audience, each with a deadline on the monotonic clock (immune to clock
    changes), and one fetch lock per audience so that threads missing together make one request.
    Thread-safe. Entries are copied in and out: callers may change the dicts they get."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[dict[str, Any], float]] = {}
        self._fetch_locks: dict[str, threading.Lock] = {}

    def get(self, audience: str) -> dict[str, Any] | None:
        with self._lock:
            entry = self._entries.get(audience)
            if entry is None:
                return None
            if entry[1] <= time.monotonic():
                del self._entries[audience]
                return None
            return entry[0].copy()

    def put(
        self, audience: str, credentials: dict[str, Any], expires_at: float | None, ttl: float
    ) -> None:
        """Keep ``credentials`` for at most ``ttl`` seconds and not too close to ``expires_at``
        (epoch seconds, or None when the provider gave no lifetime)."""
        seconds = ttl
        if expires_at is not None:
            remaining = float(expires_at) - time.time()
            seconds = min(seconds, remaining - min(EXPIRY_LEEWAY, remaining / 2))
        with self._lock:
            if seconds > 0:
                self._entries[audience] = (credentials.copy(), time.monotonic() + seconds)
            else:
                self._entries.pop(audience, None)

    def forget(self, audience: str) -> None:
        with self._lock:
            self._entries.pop(audience, None)

    def fetch_lock(self, audience: str) -> threading.Lock:
        with self._lock:
            return self._fetch_locks.setdefault(audience, threading.Lock())


def resolve_cache_ttl(cache_ttl: float | None) -> float:
    """The argument if given, else ``$JUPYTER_CREDS_CACHE_TTL``, else 5 s; a bad value raises
    ``ValueError`` naming where it came from."""
    source, given = "cache_ttl", cache_ttl
    if cache_ttl is None:
        given = os.environ.get(CACHE_TTL_ENV, "").strip()
        if not given:
            return DEFAULT_CACHE_TTL
        source = f"The environment variable {CACHE_TTL_ENV}"
    try:
        seconds = float(given)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        seconds = float("nan")
    if not 0 <= seconds < float("inf"):
        raise ValueError(f"{source} must be a number of seconds >= 0, got {given!r}")
    return seconds
