"""Request counters and injected faults, shared between the server thread and tests."""

from __future__ import annotations

import threading
from collections import Counter, deque

ENDPOINTS = ("discovery", "jwks", "authorize", "token", "userinfo", "revoke", "introspect")
FAULTABLE_ENDPOINTS = ("discovery", "jwks", "token", "userinfo", "revoke", "introspect")
FAULT_KINDS = (
    "500",
    "503",
    "429",
    "html",
    "no_access_token",
    "stall",
    "drop",
    "lost_answer",
    "tampered_id_token",
    "slow",
)
#: How long a ``slow`` fault holds the answer back; ``slow:<seconds>`` names another delay.
SLOW_SECONDS = 1.0
#: Faults that answer normally-shaped HTTP without running the endpoint.
ANSWERING_FAULTS = ("500", "503", "429", "html", "no_access_token")


def slow_delay(kind: str) -> float | None:
    """The delay of a ``slow`` or ``slow:<seconds>`` fault (answered normally, late), else None."""
    name, colon, seconds = kind.partition(":")
    if name != "slow":
        return None
    return float(seconds) if colon else SLOW_SECONDS


def _check_kind(kind: str) -> None:
    name, colon, seconds = kind.partition(":")
    if name not in FAULT_KINDS or (colon and name != "slow"):
        raise ValueError(f"unknown fault {kind!r}; expected one of {', '.join(FAULT_KINDS)}")
    if colon:
        try:
            ok = 0 <= float(seconds) <= 600
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(f"bad delay in {kind!r}: use slow:<seconds>, at most 600")


def _check_endpoint(endpoint: str, allowed: tuple[str, ...]) -> None:
    if endpoint not in allowed:
        raise ValueError(f"unknown endpoint {endpoint!r}; expected one of {', '.join(allowed)}")


class RequestLedger:
    """Thread-safe counts of requests per endpoint (and grant type) and queued faults."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str | None]] = Counter()
        self._faults: dict[str, deque[str]] = {}

    def record(self, endpoint: str, grant_type: str | None = None) -> str | None:
        """Count one request and return the fault it must suffer, if any."""
        with self._lock:
            self._counts[(endpoint, None)] += 1
            if grant_type:
                self._counts[(endpoint, grant_type)] += 1
            queue = self._faults.get(endpoint)
            return queue.popleft() if queue else None

    def count(self, endpoint: str, grant_type: str | None = None) -> int:
        _check_endpoint(endpoint, ENDPOINTS)
        with self._lock:
            return self._counts[(endpoint, grant_type)]

    def inject(self, endpoint: str, kind: str, count: int = 1) -> None:
        _check_endpoint(endpoint, FAULTABLE_ENDPOINTS)
        _check_kind(kind)
        if kind == "lost_answer" and endpoint != "token":
            raise ValueError("'lost_answer' only applies to the token endpoint")
        if count < 1:
            raise ValueError("count must be at least 1")
        with self._lock:
            self._faults.setdefault(endpoint, deque()).extend([kind] * count)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
