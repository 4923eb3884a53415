"""Many kernels asking for a token at once: ``run_load``, shared by the test suite (a few seconds)
and the benchmark (``python -m jupyter_creds.bench``, a minute).

Each simulated kernel is a :class:`~jupyter_creds.Client` in its own thread, with its cache off,
calling ``get_credentials`` in a loop, so every call reaches the server. Also a command::

    JUPYTER_CREDS_URL=... JUPYTER_CREDS_TOKEN=... python -m jupyter_creds.loadtest AUDIENCE \\
        [--clients 200] [--seconds 60]

The answer never holds a token: only counts, rates and latencies (and a few error texts, which
the client writes without tokens).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from .client import TOKEN_ENV, URL_ENV, Client

MAX_ERROR_SAMPLES = 5


@dataclass
class _Caller:
    """What one simulated kernel saw. Only its own thread writes to it."""

    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    lost: int = 0  # answers of "not signed in" while the user was signed in all along
    samples: list[str] = field(default_factory=list)
    tokens: set[int] = field(default_factory=set)  # hashes: how many distinct tokens were served


def _call(client: Client, audience: str, out: _Caller) -> None:
    started = time.perf_counter()
    try:
        credentials = client.oauth.get_credentials(audience)
    except Exception as e:  # every failure is a counted error, never a crash of the run
        out.errors += 1
        if len(out.samples) < MAX_ERROR_SAMPLES:
            out.samples.append(f"{type(e).__name__}: {str(e)[:200]}")
        return
    out.latencies.append(time.perf_counter() - started)
    if credentials is None or not credentials.get("access_token"):
        out.lost += 1
    else:
        out.tokens.add(hash(credentials["access_token"]))


def run_load(
    url: str,
    token: str,
    audience: str,
    *,
    clients: int = 200,
    seconds: float = 60.0,
    timeout: float = 30.0,
) -> dict[str, Any]:
    """Run ``clients`` kernel clients against the server's credentials API for ``seconds``.

    Args:
        url: the server's ``.../api/creds/`` URL (``JUPYTER_CREDS_URL`` in a kernel).
        token: the kernel secret (``JUPYTER_CREDS_TOKEN``); it works from loopback only.
        audience: the integration whose token every client asks for; sign in to it first.
        timeout: each request's timeout.

    Returns a dict: ``clients``, ``warm_up_seconds`` (each client's first call, not measured),
    ``seconds`` (the measured run), ``requests`` (answered calls),
    ``throughput`` (answered calls per second), ``p50``, ``p99`` and ``max`` latency in seconds
    (also ``p50_ms``, ``p99_ms``), ``errors`` (calls that raised), ``tokens_lost`` (calls that
    answered "not signed in"), ``distinct_tokens`` (how many different access tokens were served:
    refreshes happened in between when more than one), ``error_samples`` (a few error texts).
    """
    if clients < 1 or seconds <= 0:
        raise ValueError("clients must be at least 1 and seconds positive")
    callers = [_Caller() for _ in range(clients)]
    kernels = [Client(url, token, timeout=timeout, cache_ttl=0) for _ in range(clients)]
    window: list[float] = []  # [start, end] of the measured run, set when all are ready
    created = time.monotonic()

    def begin() -> None:
        now = time.monotonic()
        window.extend((now, now + seconds))

    ready = threading.Barrier(clients, action=begin, timeout=timeout + 60)

    def work(client: Client, out: _Caller) -> None:
        # One call first, not measured: it opens the client's connection, as a kernel's first
        # call did long before; the run measures answers, not 200 connections opening at once.
        warm_up = _Caller()
        _call(client, audience, warm_up)
        out.errors, out.lost, out.samples = warm_up.errors, warm_up.lost, warm_up.samples
        try:
            ready.wait()
        except threading.BrokenBarrierError:
            out.errors += 1
            return
        while time.monotonic() < window[1]:
            _call(client, audience, out)

    threads = [
        threading.Thread(target=work, args=(k, c), name=f"load-client-{i}", daemon=True)
        for i, (k, c) in enumerate(zip(kernels, callers, strict=True))
    ]
    for thread in threads:
        thread.start()
    limit = time.monotonic() + seconds + 2 * timeout + 90
    for thread in threads:
        thread.join(max(0.0, limit - time.monotonic()))
    began = window[0] if window else time.monotonic()
    elapsed = max(time.monotonic() - began, 1e-9)
    for kernel in kernels:
        kernel.close()
    stuck = sum(thread.is_alive() for thread in threads)
    latencies = sorted(x for c in callers for x in c.latencies)
    p50, p99 = _percentiles(latencies)
    samples = [s for c in callers for s in c.samples][:MAX_ERROR_SAMPLES]
    if stuck:
        samples.append(f"{stuck} client(s) still waiting for an answer at the end")
    return {
        "clients": clients,
        "warm_up_seconds": began - created,
        "seconds": elapsed,
        "requests": len(latencies),
        "throughput": len(latencies) / elapsed,
        "p50": p50,
        "p99": p99,
        "max": latencies[-1] if latencies else float("nan"),
        "p50_ms": p50 * 1e3,
        "p99_ms": p99 * 1e3,
        "errors": sum(c.errors for c in callers) + stuck,
        "tokens_lost": sum(c.lost for c in callers),
        "distinct_tokens": len(set().union(*(c.tokens for c in callers))),
        "error_samples": samples,
    }


def _percentiles(latencies: list[float]) -> tuple[float, float]:
    if not latencies:
        return float("nan"), float("nan")
    if len(latencies) == 1:
        return latencies[0], latencies[0]
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return cuts[49], cuts[98]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m jupyter_creds.loadtest",
        description=f"Load a server's credentials API; reads {URL_ENV} and {TOKEN_ENV}.",
    )
    parser.add_argument("audience", help="the integration id (sign in to it first)")
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=60.0)
    opts = parser.parse_args(argv)
    url, token = os.environ.get(URL_ENV), os.environ.get(TOKEN_ENV)
    if not url or not token:
        parser.error(f"set {URL_ENV} and {TOKEN_ENV} (as a kernel of the server has them)")
    result = run_load(url, token, opts.audience, clients=opts.clients, seconds=opts.seconds)
    print(json.dumps(result, indent=2))
    return 0 if result["errors"] == 0 and result["tokens_lost"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
