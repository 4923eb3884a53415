"""Jupyter servers with the extension in child processes: several servers on one store, a server
under a file size limit, a JupyterHub single-user server. Loopback only, bounded waits."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx2

# The other server extensions installed here would only slow the start down.
OTHER_EXTENSIONS = ("jupyter_lsp", "jupyter_server_terminals", "jupyterlab", "notebook_shim")
START_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """``python -m jupyter_server`` (or another command) with its own config, data and runtime
    directories under ``home``; its output is collected in ``output`` (a pipe, never a file, so a
    file size limit on the child does not touch it)."""

    def __init__(
        self,
        home: Path,
        *,
        creds: dict[str, Any],
        env: dict[str, str] | None = None,
        command: list[str] | None = None,
        base_url: str = "/",
        token: str | None = None,
        port: int | None = None,
        server_config: dict[str, Any] | None = None,
    ) -> None:
        self.home = home
        self.port = port or free_port()
        self.token = token or secrets.token_hex(16)
        self.base_url = base_url
        self.url = f"http://127.0.0.1:{self.port}{base_url}"
        self.output: list[str] = []
        self._command = command or [sys.executable, "-m", "jupyter_server"]
        config_dir = home / "config"
        config_dir.mkdir(parents=True, exist_ok=True)
        (home / "root").mkdir(exist_ok=True)
        extensions = {name: False for name in OTHER_EXTENSIONS} | {"jupyter_creds": True}
        config = {
            "ServerApp": {
                "ip": "127.0.0.1",
                "port": self.port,
                "port_retries": 0,
                "open_browser": False,
                "root_dir": str(home / "root"),
                "base_url": base_url,
                "jpserver_extensions": extensions,
                "allow_unauthenticated_access": False,
                "allow_root": True,  # CI containers run as root
                **(server_config or {}),
            },
            "IdentityProvider": {"token": self.token},
            "CredsApp": creds,
        }
        (config_dir / "jupyter_server_config.json").write_text(json.dumps(config))
        self.env = {
            **os.environ,
            "JUPYTER_CONFIG_DIR": str(config_dir),
            "JUPYTER_DATA_DIR": str(home / "data"),
            "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
            "JUPYTER_PLATFORM_DIRS": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            **(env or {}),
        }
        self.proc: subprocess.Popen[str] | None = None
        self._drainer: threading.Thread | None = None

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}

    @property
    def log(self) -> str:
        return "".join(self.output)

    def start(self) -> ServerProcess:
        self.proc = subprocess.Popen(
            self._command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=self.env,
            cwd=self.home,
        )
        self._drainer = threading.Thread(target=self._drain, daemon=True)
        self._drainer.start()
        return self

    def _drain(self) -> None:
        assert self.proc is not None
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line)

    def wait_ready(self, timeout: float = START_TIMEOUT, path: str = "api/creds/integrations"):
        """Poll ``path`` until it answers 200; return that answer's JSON."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        with httpx2.Client(timeout=5, trust_env=False) as http:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"the server exited ({self.proc.returncode}):\n{self.log}")
                with contextlib.suppress(httpx2.TransportError):
                    resp = http.get(self.url + path, headers=self.headers)
                    if resp.status_code == 200:
                        return resp.json()
                time.sleep(0.1)
        raise TimeoutError(f"the server did not answer within {timeout:g} s:\n{self.log[-3000:]}")

    def stop(self) -> None:
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        if self._drainer is not None:
            self._drainer.join(5)
        if proc.stdout is not None:
            proc.stdout.close()

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
