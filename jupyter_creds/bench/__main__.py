"""``python -m jupyter_creds.bench [--quick] [--json PATH]``: the benchmark table.

Starts its own Jupyter servers and the embedded OpenID Connect provider, all on loopback and in
temporary directories, and prints one table: each figure is a median over repeated runs next to
a baseline measured in the same run. See the package docstring for how.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from cryptography.fernet import Fernet

from ..demo import ANALYTICS_ID, demo_clients, integrations_toml
from ..keys import KEY_ENV
from ..provider import EmbeddedProvider
from . import footprint, latency
from .report import Figure, machine, table, write_json
from .servers import JupyterServer
from .timing import FULL, QUICK, SMOKE, Workload, progress
from .world import kernel_environment, sign_in

# Long enough that no token reaches its refresh leeway by itself during a run: figure 3 expires
# the token on purpose, the other figures measure the valid-token path.
TOKEN_LIFETIME = 3600.0


class Failed(Figure):
    """A figure group that could not be measured."""


def _guarded(
    figures: list[Figure], label: str, target: str, run: Callable[[], list[Figure]]
) -> bool:
    """Run one figure group; on failure, say why and record a failed line instead."""
    progress(label)
    try:
        figures.extend(run())
        return True
    except Exception as e:  # one broken figure must not hide the others
        traceback.print_exc()
        name = f"{label}: FAILED ({type(e).__name__}: {e})"[:200]
        figures.append(Failed(name, None, None, None, target, False))
        return False


def run(w: Workload) -> list[Figure]:
    figures: list[Figure] = []
    key = Fernet.generate_key().decode()
    env = {KEY_ENV: key}
    with contextlib.ExitStack() as stack:
        root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="jupyter-creds-bench-")))
        provider = EmbeddedProvider(clients=demo_clients(), token_lifetime=TOKEN_LIFETIME).start()
        stack.callback(provider.stop)

        home = root / "main"
        home.mkdir()
        integrations = home / "integrations.toml"
        integrations.write_text(integrations_toml(provider.issuer), encoding="utf-8")
        store_path = home / "store" / "tokens.db"
        creds = {"integrations_file": str(integrations), "store_path": str(store_path)}
        with JupyterServer(home, creds=creds, env=env) as server:
            session: dict[str, str] = {}

            def prepare() -> list[Figure]:
                try:
                    server.start()
                    sign_in(server, ANALYTICS_ID)
                    session["url"], session["secret"] = kernel_environment(server)
                except Exception:
                    progress(f"the server's log ends with:\n{server.log_tail()}")
                    raise
                return []

            if _guarded(figures, "main server, sign-in, kernel secret", "reported", prepare):
                url, secret = session["url"], session["secret"]
                _guarded(
                    figures,
                    "figure 1: credentials round trip",
                    "<= 1.5",
                    lambda: latency.credentials_round_trip(server, secret, ANALYTICS_ID, w),
                )
                _guarded(
                    figures,
                    "figure 2: kernel client",
                    ">= 50",
                    lambda: latency.client_paths(url, secret, ANALYTICS_ID, w),
                )
                _guarded(
                    figures,
                    "figure 3: concurrent calls at expiry",
                    "<= 1.3",
                    lambda: latency.refresh_burst(
                        server, provider, store_path, key, secret, ANALYTICS_ID, w
                    ),
                )
                _guarded(
                    figures,
                    f"figure 7: load ({w.load_clients} clients, {w.load_seconds:g} s)",
                    "reported",
                    lambda: footprint.load(url, secret, ANALYTICS_ID, w),
                )
        _guarded(
            figures,
            "figure 4: listing integrations",
            "<= 10",
            lambda: latency.integrations_listing(root, provider, key, w),
        )
        _guarded(
            figures,
            "figures 5 and 6: start-up and memory",
            "<= 1.2",
            lambda: footprint.startup_and_memory(root, provider, key, w),
        )
        _guarded(figures, "figure 6: import cost", "<= 1.3", lambda: footprint.import_cost(root, w))
    return sorted(figures, key=lambda f: f.name[:1])  # by figure number, stable within one


def _load_average() -> str:
    try:
        return "{:.1f} / {:.1f} / {:.1f}".format(*os.getloadavg())
    except OSError:
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m jupyter_creds.bench",
        description="Benchmark jupyter_creds against jupyter_server's own floor, in one run.",
    )
    parser.add_argument(
        "--quick", action="store_true", help="fewer repetitions and a 10 s load (under two minutes)"
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="a tiny workload that only checks that every figure is produced (used by the tests; "
        "its numbers mean nothing)",
    )
    parser.add_argument("--json", metavar="PATH", help="also write the figures to PATH as JSON")
    args = parser.parse_args(argv)
    w = SMOKE if args.smoke else QUICK if args.quick else FULL
    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    m = machine()
    print(
        f"jupyter_creds benchmark ({mode}): {m['cpu']}, {m['cores']} cores, {m['python']}, "
        f"{m['os']}"
    )
    started, load_before = time.perf_counter(), _load_average()
    figures = run(w)
    print(table(figures))
    print(
        f"({time.perf_counter() - started:.0f} s; load average {load_before} before, "
        f"{_load_average()} after: other processes on this machine add noise)"
    )
    if args.json:
        write_json(args.json, figures)
    return 1 if any(isinstance(f, Failed) for f in figures) else 0


if __name__ == "__main__":
    sys.exit(main())
