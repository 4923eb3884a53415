"""Figures 5-7: start-up, memory, import cost, and the load figures."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from ..keys import KEY_ENV
from ..provider import EmbeddedProvider
from .report import Figure
from .servers import BenchError, JupyterServer
from .timing import Workload, progress
from .world import fill_store, integration_ids, write_integrations

SIGN_INS = 10  # integrations whose sign-in starts, for the memory each integration in use costs


def _use_extension(server: JupyterServer, provider: EmbeddedProvider, ids: list[str]) -> dict:
    """What a user does first: list the integrations (discovery runs then), get a token, start a
    sign-in (the first OAuth client). Then start ``SIGN_INS`` more sign-ins. Returns the figures."""
    rest = server.http()
    try:
        before = provider.requests_count("discovery")
        started = time.perf_counter()
        listing = json.loads(rest.get_ok("/api/creds/integrations"))["integrations"]
        seen = {
            "first_listing": time.perf_counter() - started,
            "discovery": provider.requests_count("discovery") - before,
        }
        if sum(i["status"] == "authenticated" for i in listing) != len(ids):
            raise BenchError(f"expected {len(ids)} signed-in integrations")
        rest.get_ok(f"/api/creds/credentials?audience={ids[0]}")
        rest.json("POST", f"/api/creds/integrations/{ids[0]}/signin")
        seen["rss"] = server.rss_mb()
        first, again = [], []
        for guid in ids[1 : 1 + SIGN_INS]:
            for times in (first, again):
                started = time.perf_counter()
                rest.json("POST", f"/api/creds/integrations/{guid}/signin")
                times.append(time.perf_counter() - started)
        seen["rss_per_integration"] = (server.rss_mb() - seen["rss"]) / SIGN_INS
        seen["first_signin"] = statistics.median(first)
        seen["again_signin"] = statistics.median(again)
        return seen
    finally:
        rest.close()


def startup_and_memory(
    root: Path, provider: EmbeddedProvider, key: str, w: Workload
) -> list[Figure]:
    """5 and 6. Start-up until /api/status answers, with the extension (``count`` integrations,
    a stored token for each) and without it; resident memory once a user listed integrations,
    got a token and started a sign-in. One start of each kind first warms the page cache and the
    bytecode caches; then starts alternate between the two kinds."""
    count = w.footprint_integrations
    ids = integration_ids(count)
    home_with, home_without = root / "with-extension", root / "without-extension"
    home_with.mkdir()
    home_without.mkdir()
    store_path = home_with / "store" / "tokens.db"
    integrations = write_integrations(home_with / "integrations.toml", provider.issuer, ids)
    creds = {"integrations_file": str(integrations), "store_path": str(store_path)}
    fill_store(store_path, key, ids)
    startup: dict[bool, list[float]] = {True: [], False: []}
    startup_cpu: dict[bool, list[float]] = {True: [], False: []}
    rss_without: list[float] = []
    used: list[dict] = []
    for i in range(-1, w.starts):
        for with_extension in (True, False) if i % 2 == 0 else (False, True):
            kind = "with" if with_extension else "without"
            run = "warm-up" if i < 0 else f"{i + 1}/{w.starts}"
            progress(f"figure 5: start {run}, {kind} the extension")
            home = home_with if with_extension else home_without
            with JupyterServer(
                home, creds=creds if with_extension else None, env={KEY_ENV: key}
            ) as server:
                seconds = server.start()
                if with_extension:
                    seen = _use_extension(server, provider, ids)
                else:
                    rest = server.http()
                    rest.get_ok("/api/status")
                    rest.close()
                    seen = {"rss": server.rss_mb()}
            if i >= 0:
                startup[with_extension].append(seconds)
                startup_cpu[with_extension].append(server.startup_cpu)
                (used if with_extension else rss_without).append(
                    seen if with_extension else seen["rss"]
                )

    def median(key: str) -> float:
        return statistics.median(s[key] for s in used)

    base_rss = statistics.median(rss_without)
    discovery = [s["discovery"] for s in used]
    return [
        Figure.from_runs(
            f"5 server start-up with the extension and {count} integrations / without (ms)",
            startup[True],
            startup[False],
            "<= 1.2",
            scale=1e3,
        ),
        Figure.from_runs(
            "5 CPU time of that start-up, with / without (ms; steadier than wall time on a busy "
            "machine)",
            startup_cpu[True],
            startup_cpu[False],
            "reported",
            scale=1e3,
        ),
        Figure.reported(
            f"5 first GET integrations after start-up, {count} integrations (ms, with discovery)",
            median("first_listing") * 1e3,
        ),
        Figure(
            f"5 discovery requests per start-up, {count} integrations of one issuer "
            "(total / starts)",
            sum(discovery),
            len(discovery),
            sum(discovery) / len(discovery),
            "== 1",
            all(d == 1 for d in discovery),
        ),
        Figure.compare(
            f"6 server RSS with the extension, {count} integrations + {count} tokens, "
            "minus without (MB)",
            median("rss") - base_rss,
            base_rss,
            "value <= 30",
            judged=median("rss") - base_rss,
        ),
        Figure.reported(
            f"6 server RSS per integration in use (MB, {SIGN_INS} more sign-ins started)",
            median("rss_per_integration"),
        ),
        Figure.reported(
            "6 POST signin, first for its integration / again (ms)",
            median("first_signin") * 1e3,
            median("again_signin") * 1e3,
        ),
    ]


_IMPORT = "import time; t = time.perf_counter(); import {0}; print(time.perf_counter() - t)"


def _import_seconds(module: str, cwd: Path) -> float:
    out = subprocess.run(
        [sys.executable, "-c", _IMPORT.format(module)],
        capture_output=True,
        text=True,
        cwd=cwd,
        check=False,
    )
    if out.returncode != 0:
        raise BenchError(f"import {module} failed: {out.stderr[-500:]}")
    return float(out.stdout.strip())


def import_cost(root: Path, w: Workload) -> list[Figure]:
    """6. ``import jupyter_creds.client`` vs ``import httpx2``, each in a fresh interpreter
    (imports only, not the interpreter's own start), alternating."""
    times: dict[str, list[float]] = {"jupyter_creds.client": [], "httpx2": []}
    for module in times:
        _import_seconds(module, root)  # bytecode caches written, files in the page cache
    for i in range(w.imports):
        for module in list(times) if i % 2 == 0 else list(times)[::-1]:
            times[module].append(_import_seconds(module, root))
    return [
        Figure.from_runs(
            "6 import jupyter_creds.client / import httpx2 (ms, fresh interpreter)",
            times["jupyter_creds.client"],
            times["httpx2"],
            "<= 1.3",
            scale=1e3,
        )
    ]


def load(url: str, secret: str, audience: str, w: Workload) -> list[Figure]:
    """7. The reliability issue's load figures, from ``jupyter_creds.loadtest.run_load``: kernel
    clients with their cache off, each in its own thread of this process, asking in a loop."""
    label = f"7 load, {w.load_clients} clients x {w.load_seconds:g} s"
    names = [
        f"{label}: throughput (req/s)",
        f"{label}: p50 (ms)",
        f"{label}: p99 (ms)",
        f"{label}: errors or lost tokens / requests",
    ]
    try:
        from ..loadtest import run_load
    except ImportError as e:
        progress(f"figure 7 skipped: jupyter_creds.loadtest.run_load is not available ({e})")
        return [Figure.reported(name, None) for name in names]
    result = run_load(url, secret, audience, clients=w.load_clients, seconds=w.load_seconds)
    for sample in result.get("error_samples") or []:
        progress(f"figure 7: {sample}")
    failures = result["errors"] + result.get("tokens_lost", 0)
    return [
        Figure.reported(names[0], result["throughput"]),
        Figure.reported(names[1], result["p50_ms"]),
        Figure.reported(names[2], result["p99_ms"]),
        Figure.reported(names[3], failures, result["requests"]),
    ]
