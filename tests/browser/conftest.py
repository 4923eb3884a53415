"""Browser-test fixtures: `jupyter creds demo` in a child process, Debian's Chromium via Playwright.

- ``demo`` (module scope): the demo server, as a person starts it, with its own HOME, config and
  runtime directories; ``demo.url``, ``demo.token``, ``demo.issuer``, ``demo.log``, plus REST and
  settings helpers and an HTTP sign-in that drives the provider's pages (to set up state fast).
- ``chromium`` (session scope): the browser. Never downloaded: ``/usr/bin/chromium``.
- ``browser_context``: a fresh context per test (clipboard permissions granted for the demo's
  origin); ``request_log``: every request any page of that context made, with a time stamp.
- ``lab_page``: a page at ``/lab?reset`` (a clean layout), JupyterLab fully started.

On a failure the test's page is saved to ``tests/artifacts/screenshots/failures/`` and the tail of
the demo's log is added to the report.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx2
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Request, sync_playwright
from signin_driver import parse_form  # tests/signin_driver.py

import jupyter_creds
from jupyter_creds.demo import SECRET_ENV

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",  # CI runs as root
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-dev-shm-usage",  # small /dev/shm in containers
]
TOKEN = "browser-test-token-7c41e0b2d9"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"
START_TIMEOUT = 90.0
# How long JupyterLab may take to start in the page (2 CPUs shared with a kernel or two).
LAB_READY_TIMEOUT_MS = 60_000
SIDEBAR_TAB = '.jp-SideBar [data-id="jupyter-creds:sidebar"]'
PANEL = '[id="jupyter-creds:sidebar"]'
MAIN_AREA_TAB = "#jp-main-dock-panel .lm-TabBar-tab"


@pytest.fixture(autouse=True)
def jp_asyncio_loop() -> Iterator[asyncio.AbstractEventLoop]:
    """Replaces pytest-jupyter's autouse loop fixture here. Playwright's sync API runs its own loop
    in this thread (from a greenlet), so the plugin's fixture would pick that running loop up and
    fail to close it. These tests need no loop of their own: give a fresh one, never running."""
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture(autouse=True)
def jp_server_cleanup() -> None:
    """Replaces pytest-jupyter's autouse cleanup: no in-process server here (the demo is a child
    process), and cleaning up a ServerApp on Playwright's running loop would fail."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def screenshot_path(name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / f"{name}.png"


@dataclass
class Demo:
    """A running `jupyter creds demo`."""

    url: str  # http://127.0.0.1:PORT/ (the server's base URL)
    token: str
    issuer: str  # the embedded provider, http://127.0.0.1:PORT
    log: Path
    home: Path
    proc: subprocess.Popen = field(repr=False)

    @property
    def origin(self) -> str:
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}

    def lab_url(self, path: str = "lab?reset") -> str:
        sep = "&" if "?" in path else "?"
        return f"{self.url}{path}{sep}token={self.token}"

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError as exc:
            return f"(no demo log: {exc})"
        return "\n".join(text.splitlines()[-lines:])

    def why(self, what: str) -> str:
        """An assertion message: what went wrong, then the end of the demo's log."""
        return f"{what}\n--- demo log (last lines) ---\n{self.log_tail(40)}"

    def http(self) -> httpx2.Client:
        return httpx2.Client(base_url=self.url, headers=self.headers, timeout=15, trust_env=False)

    # REST (DESIGN.md's contract), as the front end calls it
    def integrations(self) -> dict[str, dict]:
        with self.http() as http:
            resp = http.get("api/creds/integrations")
        assert resp.status_code == 200, self.why(f"GET integrations: {resp.status_code}")
        return {i["id"]: i for i in resp.json()["integrations"]}

    def integration(self, integration_id: str) -> dict:
        with self.http() as http:
            resp = http.get(f"api/creds/integrations/{integration_id}")
        assert resp.status_code == 200, self.why(f"GET integration: {resp.status_code}")
        return resp.json()

    def snippet(self, integration_id: str, language: str) -> str:
        with self.http() as http:
            resp = http.get(
                f"api/creds/integrations/{integration_id}/snippet", params={"language": language}
            )
        assert resp.status_code == 200, self.why(f"GET snippet: {resp.status_code}")
        return resp.json()["code"]

    def access_token(self, integration_id: str) -> str:
        with self.http() as http:
            resp = http.get("api/creds/credentials", params={"audience": integration_id})
        assert resp.status_code == 200, self.why(f"GET credentials: {resp.status_code}")
        return resp.json()["access_token"]

    def sign_out(self, integration_id: str) -> None:
        with self.http() as http:
            resp = http.post(f"api/creds/integrations/{integration_id}/signout", content=b"{}")
        assert resp.status_code == 204, self.why(f"sign out: {resp.status_code}")

    def sign_in(self, integration_id: str) -> None:
        """Sign in over HTTP through the provider's login and consent pages (demo / demo)."""
        if self.integration(integration_id)["status"] == "authenticated":
            return
        with self.http() as http:
            resp = http.post(f"api/creds/integrations/{integration_id}/signin", content=b"{}")
        assert resp.status_code == 200, self.why(f"sign in: {resp.status_code} {resp.text}")
        url = resp.json()["authorization_url"]
        with httpx2.Client(timeout=15, trust_env=False) as person:
            resp = person.get(url)
            for _ in range(4):  # login page, consent page, then the redirect
                if resp.status_code in (302, 303):
                    break
                assert resp.status_code == 200, self.why(f"provider page: {resp.status_code}")
                form = parse_form(resp.text)
                fields = dict(form.fields)
                target = urljoin(url, form.action or url)
                if "password" in fields:
                    fields.update(username="demo", password="demo")
                else:
                    fields["decision"] = "approve"
                url = target
                resp = person.post(target, data=fields)
            callback = urljoin(url, resp.headers["location"])
            page = person.get(callback)
        assert page.status_code == 200, self.why(f"callback: {page.status_code}")
        status = self.integration(integration_id)["status"]
        assert status == "authenticated", self.why(f"not signed in after the callback: {status}")

    # JupyterLab settings (the same REST API the Settings Editor uses)
    def put_setting(self, plugin: str, values: dict) -> None:
        with self.http() as http:
            resp = http.put(f"lab/api/settings/{plugin}", json={"raw": json.dumps(values)})
        assert resp.status_code == 204, self.why(f"PUT setting {plugin}: {resp.status_code}")


def _write_user_settings(config_dir: Path) -> None:
    """Before the first page load: no news prompt or update check (loopback only, clean shots)."""
    notification = config_dir / "lab" / "user-settings" / "@jupyterlab" / "apputils-extension"
    notification.mkdir(parents=True, exist_ok=True)
    (notification / "notification.jupyterlab-settings").write_text(
        json.dumps({"checkForUpdates": False, "fetchNews": "false"})
    )


@contextlib.contextmanager
def running_demo(
    home: Path,
    *,
    extra_args: tuple[str, ...] = (),
    extra_env: dict[str, str] | None = None,
    link_build: bool = True,
) -> Iterator[Demo]:
    """`jupyter creds demo` in a child process, its files under ``home``; stopped on exit.

    With ``link_build``, JupyterLab loads the package's own build of the extension, also from an
    editable install (which puts nothing in share/jupyter); otherwise the installed one.
    """
    state = home / "state"
    log = home / "demo.log"
    config_dir = home / "config"
    _write_user_settings(config_dir)
    port = free_port()
    env = {
        **os.environ,
        "HOME": str(home),
        "JUPYTER_CONFIG_DIR": str(config_dir),
        "JUPYTER_DATA_DIR": str(home / "data"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    env.pop(SECRET_ENV, None)  # the demo makes its own client secret unless told
    env.pop("JUPYTER_CREDS_KEY", None)
    env.update(extra_env or {})
    built = Path(jupyter_creds.__file__).parent / "labextension"
    if link_build and (built / "package.json").exists():
        share = home / "share" / "jupyter"
        (share / "labextensions").mkdir(parents=True)
        (share / "labextensions" / "jupyter-creds").symlink_to(built)
        env["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(share), env.get("JUPYTER_PATH")]))
    command = [
        sys.executable,
        "-m",
        "jupyter_creds.cli",
        "demo",
        "--no-browser",
        "--port",
        str(port),
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={TOKEN}",
        "--allow-root",
        "--token-lifetime",
        "600",  # longer than a module: no refresh in the middle of a check
        "--state-dir",
        str(state),
        # loopback only: no announcements feed, no PyPI update check
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.handlers.announcements.NeverCheckForUpdate",
        f"--ServerApp.root_dir={home}",
        *extra_args,
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=home,
        )
    url = f"http://127.0.0.1:{port}/"
    headers = {"Authorization": f"token {TOKEN}"}
    try:
        deadline = time.monotonic() + START_TIMEOUT
        with httpx2.Client(timeout=3, trust_env=False) as http:
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"the demo exited ({proc.returncode}):\n{log.read_text()}")
                with contextlib.suppress(httpx2.TransportError):
                    resp = http.get(url + "api/creds/integrations", headers=headers)
                    if resp.status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the demo did not start:\n{log.read_text()}")
                time.sleep(0.3)
        found = re.search(r"provider at (http://127\.0\.0\.1:\d+)", log.read_text())
        assert found, log.read_text()
        yield Demo(url=url, token=TOKEN, issuer=found.group(1), log=log, home=home, proc=proc)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # the server stops, the demo stops its provider
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """`jupyter creds demo` in a child process, one per test module."""
    with running_demo(tmp_path_factory.mktemp("demo-home")) as running:
        yield running


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """Debian's Chromium, headless (never a downloaded browser). One per module, not per session:
    Playwright's sync API keeps an event loop running in this thread while it is open, and the
    pytest-jupyter tests that run after this folder need that thread's loop back."""
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: apt-get install chromium"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class RequestLog:
    """Requests made by any page of a browser context, with their (monotonic) time.

    Playwright delivers events only while the test is inside a Playwright call: wait with
    ``page.wait_for_timeout``, not ``time.sleep``.
    """

    entries: list[tuple[float, str, str]] = field(default_factory=list)

    def add(self, request: Request) -> None:
        self.entries.append((time.monotonic(), request.method, request.url))

    def matching(
        self, method: str, path_suffix: str, since: float | None = None
    ) -> list[tuple[float, str, str]]:
        return [
            e
            for e in self.entries
            if e[1] == method
            and urlsplit(e[2]).path.endswith(path_suffix)
            and (since is None or e[0] >= since)
        ]

    def integration_lists(self, since: float | None = None) -> int:
        """How many ``GET …/api/creds/integrations`` (the list the sidebar polls)."""
        return len(self.matching("GET", "/api/creds/integrations", since))


@pytest.fixture
def request_log() -> RequestLog:
    return RequestLog()


@pytest.fixture
def browser_context(
    chromium: Browser, demo: Demo, request_log: RequestLog
) -> Iterator[BrowserContext]:
    context = chromium.new_context(viewport={"width": 1280, "height": 800})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=demo.origin)
    context.set_default_timeout(15_000)
    context.on("request", request_log.add)
    try:
        yield context
    finally:
        context.close()


def open_lab(page: Page, demo: Demo, path: str = "lab?reset") -> Page:
    """Load JupyterLab at `path` and wait until it has started and restored its layout: our
    sidebar tab is there and the main area shows a tab (the document the path names, or the
    Launcher JupyterLab opens in an empty main area). Before that, keyboard shortcuts such as the
    command palette's may not work yet."""
    page.goto(demo.lab_url(path), wait_until="domcontentloaded")
    page.wait_for_selector(SIDEBAR_TAB, state="visible", timeout=LAB_READY_TIMEOUT_MS)
    page.wait_for_selector("#jupyterlab-splash", state="detached", timeout=LAB_READY_TIMEOUT_MS)
    page.wait_for_selector(MAIN_AREA_TAB, state="visible", timeout=LAB_READY_TIMEOUT_MS)
    return page


@pytest.fixture
def lab_page(browser_context: BrowserContext, demo: Demo) -> Page:
    """A page at /lab?reset (clean layout) with the token, JupyterLab started."""
    page = browser_context.new_page()
    return open_lab(page, demo)


@pytest.fixture
def shot(request: pytest.FixtureRequest) -> Callable[[Page, str], Path]:
    """``shot(page, "step")`` saves tests/artifacts/screenshots/<test>-<step>.png
    (``exact=True``: <step>.png)."""

    def save(page: Page, step: str, *, exact: bool = False) -> Path:
        name = re.sub(r"[^\w-]+", "-", request.node.name).strip("-")
        path = screenshot_path(step if exact else f"{name}-{step}")
        page.screenshot(path=str(path))
        return path

    return save


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    if report.when == "call" and report.failed:
        funcargs = getattr(item, "funcargs", {})
        page = funcargs.get("lab_page")
        if page is None:
            context = funcargs.get("browser_context")
            pages = context.pages if context is not None else []
            page = pages[0] if pages else None
        if page is not None:
            name = re.sub(r"[^\w-]+", "-", item.name).strip("-")
            path = screenshot_path(f"failures/{name}")
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                page.screenshot(path=str(path))
                report.sections.append(("failure screenshot", str(path)))
            except Exception as exc:  # the page may be gone
                report.sections.append(("failure screenshot", f"not saved: {exc}"))
        demo = funcargs.get("demo")
        if demo is not None:
            report.sections.append(("demo log (last lines)", demo.log_tail(60)))
    return report
