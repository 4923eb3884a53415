"""Real ``jupyter server`` processes for the benchmarks: temporary directories, loopback only."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

START_TIMEOUT = 90.0
POLL_INTERVAL = 0.01  # start-up is timed by polling: finer than this would load the CPU


class BenchError(RuntimeError):
    """The benchmark could not measure something; the message says what happened."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def other_server_extensions() -> list[str]:
    """The server extensions enabled on this machine besides ours: disabled in every benchmark
    server, with the extension or without it, so that the only difference is jupyter_creds."""
    from jupyter_core.paths import jupyter_config_path
    from jupyter_server.extension.config import ExtensionConfigManager

    found = ExtensionConfigManager(read_config_path=jupyter_config_path()).get_jpserver_extensions()
    known = {"jupyterlab", "jupyter_lsp", "jupyter_server_terminals", "notebook_shim", "notebook"}
    return sorted((set(found) | known) - {"jupyter_creds"})


class Http:
    """One keep-alive HTTP/1.1 connection (the standard library's: the least client overhead, so
    that round trips measure the server)."""

    def __init__(self, port: int, headers: dict[str, str]) -> None:
        self._conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.headers = headers

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
        data = None if body is None else json.dumps(body)
        try:
            self._conn.request(method, path, body=data, headers=self.headers)
            resp = self._conn.getresponse()
            return resp.status, resp.read()
        except (OSError, http.client.HTTPException):
            self._conn.close()  # the next request reconnects
            raise

    def get_ok(self, path: str) -> bytes:
        status, body = self.request("GET", path)
        if status != 200:
            raise BenchError(f"GET {path} answered {status}: {body[:300]!r}")
        return body

    def json(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        status, data = self.request(method, path, body)
        if status != expect:
            raise BenchError(f"{method} {path} answered {status}: {data[:300]!r}")
        return json.loads(data) if data else None

    def close(self) -> None:
        self._conn.close()


class AsyncHttp:
    """One keep-alive HTTP/1.1 connection for asyncio, sending one prepared GET: a client this
    thin lets a burst of concurrent requests load the server rather than the benchmark."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader, self._writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> AsyncHttp:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    @staticmethod
    def prepare(port: int, path: str, headers: dict[str, str]) -> bytes:
        lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    async def get(self, request: bytes) -> tuple[int, bytes]:
        self._writer.write(request)
        status = int((await self._reader.readline()).split()[1])
        length = 0
        while (line := await self._reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return status, await self._reader.readexactly(length)

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(OSError):
            await self._writer.wait_closed()


class JupyterServer:
    """``python -m jupyter_server`` with its own config, data, runtime and root directories under
    ``home``, with jupyter_creds enabled (``creds`` is its CredsApp config) or not (``None``)."""

    def __init__(
        self, home: Path, *, creds: dict[str, Any] | None, env: dict[str, str] | None = None
    ) -> None:
        self.home = home
        self.token = secrets.token_hex(16)
        self.with_extension = creds is not None
        self.port = 0
        self.runtime_dir = home / "runtime"
        self._config_dir = home / "config"
        for d in (self._config_dir, home / "root", home / "data", self.runtime_dir):
            d.mkdir(parents=True, exist_ok=True)
        extensions = {name: False for name in other_server_extensions()}
        extensions["jupyter_creds"] = self.with_extension
        self._config: dict[str, Any] = {
            "ServerApp": {
                "ip": "127.0.0.1",
                "port_retries": 0,
                "open_browser": False,
                "root_dir": str(home / "root"),
                "jpserver_extensions": extensions,
                "log_level": "WARN",
                "allow_root": hasattr(os, "geteuid") and os.geteuid() == 0,
            },
            "IdentityProvider": {"token": self.token},
        }
        if creds is not None:
            self._config["CredsApp"] = creds
        (self._config_dir / "jupyter_server_config.json").write_text(json.dumps(self._config))
        self.env = {
            **os.environ,
            "JUPYTER_CONFIG_DIR": str(self._config_dir),
            "JUPYTER_DATA_DIR": str(home / "data"),
            "JUPYTER_RUNTIME_DIR": str(self.runtime_dir),
            "JUPYTER_PLATFORM_DIRS": "1",
            "IPYTHONDIR": str(home / "ipython"),
            **(env or {}),
        }
        for name in ("JUPYTER_CREDS_URL", "JUPYTER_CREDS_TOKEN"):
            self.env.pop(name, None)  # the server sets its own
        self.proc: subprocess.Popen[bytes] | None = None
        self.startup_cpu = 0.0  # CPU seconds the server used until it answered, set by start()
        self._log_path = home / "server.log"

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def creds_url(self) -> str:
        return f"{self.url}api/creds/"

    def http(self, headers: dict[str, str] | None = None) -> Http:
        return Http(self.port, self.auth if headers is None else headers)

    def start(self) -> float:
        """Start the server; return the seconds until an authenticated ``/api/status`` answered."""
        self.port = free_port()
        command = [sys.executable, "-m", "jupyter_server", f"--port={self.port}", "--no-browser"]
        with open(self._log_path, "ab") as log:
            started = time.perf_counter()
            self.proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.home,
            )
        request = (
            f"GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: token {self.token}"
        )
        probe = (request + "\r\nConnection: close\r\n\r\n").encode()
        deadline = started + START_TIMEOUT
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"the server exited ({self.proc.returncode}):\n{self.log_tail()}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=5) as s,
            ):
                s.sendall(probe)
                if s.recv(64).startswith(b"HTTP/1.1 200"):
                    elapsed = time.perf_counter() - started
                    self.startup_cpu = self.cpu_seconds()
                    return elapsed
            time.sleep(POLL_INTERVAL)
        self.stop()
        raise BenchError(
            f"the server did not answer within {START_TIMEOUT:g} s:\n{self.log_tail()}"
        )

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the server process has used so far."""
        assert self.proc is not None
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_mb(self) -> float:
        """Resident memory of the server process (VmRSS), in MB (10^6 bytes)."""
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024 / 1e6
        raise BenchError("no VmRSS in /proc/PID/status")

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self._log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(15)

    def __enter__(self) -> JupyterServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
