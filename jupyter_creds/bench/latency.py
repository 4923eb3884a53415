"""Figures 1-4: how fast code gets a token, and what listing integrations costs as they grow."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import statistics
import time
from pathlib import Path
from typing import Any

from ..keys import KEY_ENV
from ..provider import EmbeddedProvider
from ..store import TokenStore
from .report import Figure
from .servers import AsyncHttp, BenchError, JupyterServer
from .timing import Workload, paired, progress
from .world import fill_store, integration_ids, write_integrations

STATUS = "/api/status"
PROVIDER_ENDPOINTS = ("discovery", "jwks", "authorize", "token", "userinfo", "revoke", "introspect")


def provider_requests(provider: EmbeddedProvider) -> int:
    return sum(provider.requests_count(e) for e in PROVIDER_ENDPOINTS)


def credentials_round_trip(
    server: JupyterServer, secret: str, audience: str, w: Workload
) -> list[Figure]:
    """1. GET credentials with the kernel's secret vs GET /api/status with the server's token."""
    kernel = server.http({"Authorization": f"Bearer {secret}"})
    rest = server.http()
    path = f"/api/creds/credentials?audience={audience}"
    try:
        values, bases = paired(
            lambda: kernel.get_ok(path), lambda: rest.get_ok(STATUS), runs=w.runs, n=w.requests
        )
    finally:
        kernel.close()
        rest.close()
    name = "1 credentials round trip, valid token / GET /api/status (ms)"
    return [Figure.from_runs(name, values, bases, "<= 1.5", scale=1e3)]


def client_paths(url: str, secret: str, audience: str, w: Workload) -> list[Figure]:
    """2. The kernel client: cached vs uncached get_credentials; uncached vs a raw httpx2 GET."""
    import httpx2

    from ..client import Client

    uncached = Client(url, secret, cache_ttl=0)
    cached = Client(url, secret, cache_ttl=3600)
    raw = httpx2.Client(
        base_url=url,
        headers={"Authorization": f"Bearer {secret}", "Accept": "application/json"},
        trust_env=False,
        timeout=30,
    )

    def raw_get() -> Any:
        resp = raw.get("credentials", params={"audience": audience})
        resp.raise_for_status()
        return resp.json()

    try:
        if cached.oauth.get_credentials(audience) is None:
            raise BenchError("the kernel client got no credentials: not signed in?")
        uncached_1, cached_runs = paired(
            lambda: uncached.oauth.get_credentials(audience),
            lambda: cached.oauth.get_credentials(audience),
            runs=w.runs,
            n=w.requests,
            n_baseline=w.cached_calls,
        )
        uncached_2, raw_runs = paired(
            lambda: uncached.oauth.get_credentials(audience), raw_get, runs=w.runs, n=w.requests
        )
    finally:
        for c in (uncached, cached, raw):
            c.close()
    return [
        Figure.from_runs(
            "2 Client.get_credentials uncached / cached (µs)",
            uncached_1,
            cached_runs,
            ">= 50",
            scale=1e6,
        ),
        Figure.from_runs(
            "2 Client.get_credentials uncached / raw httpx2 GET (µs)",
            uncached_2,
            raw_runs,
            "<= 1.2",
            scale=1e6,
        ),
    ]


def refresh_burst(
    server: JupyterServer,
    provider: EmbeddedProvider,
    store_path: Path,
    key: str,
    secret: str,
    audience: str,
    w: Workload,
) -> list[Figure]:
    """3. ``concurrency`` concurrent credentials calls when the token has just expired (one of
    them refreshes, the others wait for it) vs the same burst with a valid token."""
    store = TokenStore(store_path, [key])

    def expire_now() -> None:
        # What an hour passing does to the stored token; the refresh token stays the current one.
        tokens = store.get(audience)
        if tokens is None:
            raise BenchError("no stored tokens to expire: not signed in?")
        now = time.time()
        store.save(dataclasses.replace(tokens, expires_at=now - 1, obtained_at=now - 3601))

    async def measure() -> tuple[list[float], list[float], list[tuple[int, int]]]:
        path = f"/api/creds/credentials?audience={audience}"
        request = AsyncHttp.prepare(server.port, path, {"Authorization": f"Bearer {secret}"})
        conns = [await AsyncHttp.open(server.port) for _ in range(w.concurrency)]

        async def burst() -> float:
            started = time.perf_counter()
            answers = await asyncio.gather(*(c.get(request) for c in conns))
            elapsed = time.perf_counter() - started
            bad = [status for status, _ in answers if status != 200]
            if bad:
                raise BenchError(f"{len(bad)} credentials calls failed: {bad[:5]}")
            if len({json.loads(body)["access_token"] for _, body in answers}) != 1:
                raise BenchError("one burst got different access tokens")
            return elapsed

        def counts() -> tuple[int, int]:
            return provider_requests(provider), provider.requests_count("token", "refresh_token")

        try:
            for _ in range(3):  # warm every code path on every connection
                await burst()
            expired, valid, seen = [], [], []
            for _ in range(w.bursts):
                expire_now()
                before = counts()
                expired.append(await burst())
                after = counts()
                seen.append((after[0] - before[0], after[1] - before[1]))
                valid.append(await burst())
            return expired, valid, seen
        finally:
            for c in conns:
                await c.close()

    try:
        expired, valid, seen = asyncio.run(measure())
    finally:
        store.close()
    n = w.concurrency
    total = sum(all_requests for all_requests, _ in seen)
    return [
        Figure.from_runs(
            f"3 {n} concurrent credentials calls at expiry / with a valid token (ms)",
            expired,
            valid,
            "<= 1.3",
            scale=1e3,
        ),
        Figure(
            f"3 provider requests per expiry burst of {n} calls (total / bursts)",
            total,
            len(seen),
            total / len(seen),
            "== 1",
            all(s == (1, 1) for s in seen),  # one request, and it was the refresh
        ),
    ]


def integrations_listing(
    root: Path, provider: EmbeddedProvider, key: str, w: Workload
) -> list[Figure]:
    """4. GET integrations with each of ``w.sizes`` configured (half signed in) vs /api/status."""
    measured: dict[int, tuple[list[float], list[float]]] = {}
    for size in w.sizes:
        progress(f"figure 4: {size} integrations")
        home = root / f"list-{size}"
        home.mkdir()
        ids = integration_ids(size)
        creds = {
            "integrations_file": str(
                write_integrations(home / "integrations.toml", provider.issuer, ids)
            ),
            "store_path": str(home / "store" / "tokens.db"),
        }
        fill_store(home / "store" / "tokens.db", key, ids[::2])
        with JupyterServer(home, creds=creds, env={KEY_ENV: key}) as server:
            server.start()
            rest = server.http()
            path = "/api/creds/integrations"
            try:
                listing = json.loads(rest.get_ok(path))["integrations"]
                signed_in = sum(i["status"] == "authenticated" for i in listing)
                if len(listing) != size or signed_in != len(ids[::2]):
                    raise BenchError(
                        f"expected {size} integrations, {len(ids[::2])} signed in; "
                        f"got {len(listing)}, {signed_in} signed in"
                    )
                started = time.perf_counter()
                for _ in range(3):
                    rest.get_ok(path)
                one = (time.perf_counter() - started) / 3
                measured[size] = paired(
                    lambda: rest.get_ok(path),  # noqa: B023 (used within the iteration)
                    lambda: rest.get_ok(STATUS),  # noqa: B023
                    runs=w.runs,
                    n=max(3, min(400, round(w.list_seconds / one))),
                    warmup=5,
                )
            finally:
                rest.close()
    figures = []
    for size, (values, bases) in measured.items():
        name = f"4 GET integrations, {size} integrations / GET /api/status (ms)"
        target = "<= 10" if size == w.sizes[-1] else "reported"
        figures.append(Figure.from_runs(name, values, bases, target, scale=1e3))

    def per_integration(size: int) -> float:
        """µs per integration: what a listing costs beyond a status request, divided by size."""
        values, bases = measured[size]
        return statistics.median((v - b) / size for v, b in zip(values, bases, strict=True)) * 1e6

    big, mid = w.sizes[-1], w.sizes[-2]
    figures.append(
        Figure.compare(
            f"4 cost per integration at {big} / at {mid} (µs, listing minus status)",
            per_integration(big),
            per_integration(mid),
            "<= 1.5",
        )
    )
    return figures
