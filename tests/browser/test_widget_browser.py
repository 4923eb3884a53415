"""`%credentials` in JupyterLab, in Chromium, against `jupyter creds demo`, as a new user uses it.

The panel's automatic refreshes are asked for by the browser and done by the kernel, which calls
the REST API through the kernel client: they are counted on the server, in its DEBUG log, where
the kernel's requests carry its own user name (``jupyter-creds-kernel``). The sidebar's requests
from the page carry the browser's user and are not counted.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import BrowserContext, Page

from jupyter_creds.demo import ANALYTICS_ID, SECRET_ENV, WAREHOUSE_ID

from .conftest import Demo, open_lab, running_demo

pytestmark = pytest.mark.browser

KERNEL_LISTS = "GET /api/creds/integrations (jupyter-creds-kernel@"
DEMO_SECRET = "sentinel-demo-client-secret-93d1"
INTERVAL = 2
ROW = f".jupyter-creds-panel .jc-row.jc-id-{ANALYTICS_ID}"
FILLER = "\n\n".join(
    f"Filler paragraph {i}, so that the panel can be scrolled away." for i in range(150)
)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """The browser conftest's demo, plus: the server's DEBUG log (it logs every 2xx request, with
    the user: how kernel requests are counted), widget state saved with notebooks, a known
    client secret to grep for. The JupyterLab extension is the installed one (Insert into cell
    needs it; `open_lab` waits for its sidebar tab)."""
    home = tmp_path_factory.mktemp("widget-demo")
    widgets_settings = home / "config" / "lab" / "user-settings" / "@jupyter-widgets"
    (widgets_settings / "jupyterlab-manager").mkdir(parents=True)
    (widgets_settings / "jupyterlab-manager" / "plugin.jupyterlab-settings").write_text(
        json.dumps({"saveState": True})
    )
    with running_demo(
        home,
        extra_args=("--ServerApp.log_level=DEBUG",),
        extra_env={SECRET_ENV: DEMO_SECRET},
        link_build=False,
    ) as running:
        yield running


def kernel_lists(demo: Demo) -> int:
    """How many times a kernel asked the server for the integrations."""
    return demo.log.read_text(errors="replace").count(KERNEL_LISTS)


def wait_until(page: Page, condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``condition`` (page.wait_for_timeout keeps Playwright's events flowing)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout} s: {what}"
        page.wait_for_timeout(100)


def notebook_with_panel(demo: Demo, page: Page, name: str, magic: str) -> Page:
    """Write a notebook (the magic, then a long text), open it in Lab, run the magic's cell."""
    cells = [
        {
            "cell_type": "code",
            "metadata": {},
            "source": f"%load_ext jupyter_creds\n{magic}",
            "outputs": [],
            "execution_count": None,
        },
        {"cell_type": "markdown", "metadata": {}, "source": FILLER},
    ]
    notebook = {
        "cells": cells,
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    with demo.http() as http:
        resp = http.put(f"api/contents/{name}", json={"type": "notebook", "content": notebook})
    assert resp.status_code in (200, 201), resp.text
    open_lab(page, demo, f"lab/tree/{name}?reset")
    page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=60_000)
    page.get_by_text("| Idle").wait_for(timeout=60_000)  # the kernel is ready
    page.locator(".jp-NotebookPanel .jp-Cell").first.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Shift+Enter")
    page.wait_for_selector(f"{ROW}", timeout=60_000)
    return page


def scroll_panel_away(page: Page) -> None:
    """Scroll the notebook until the panel's cell is above the viewport (the filler shows)."""
    page.locator(".jp-NotebookPanel .jp-WindowedPanel-outer").evaluate(
        "el => { el.scrollTop = el.querySelector('.jp-Cell').offsetHeight + 400; }"
    )
    page.wait_for_timeout(300)
    panel = page.locator(".jupyter-creds-panel").bounding_box()
    area = page.locator(".jp-NotebookPanel .jp-WindowedPanel-outer").bounding_box()
    assert panel is None or panel["y"] + panel["height"] < area["y"], (panel, area)
    assert page.get_by_text("Filler paragraph 20,").is_visible()


def scroll_to_top(page: Page) -> None:
    page.locator(".jp-NotebookPanel .jp-WindowedPanel-outer").evaluate(
        "el => { el.scrollTop = 0; }"
    )


def set_tab_visibility(page: Page, state: str) -> None:
    """Chromium keeps a headless tab visible: fake it as the browser would report it."""
    page.evaluate(
        """state => {
            const define = (name, value) =>
                Object.defineProperty(document, name, {value, configurable: true});
            define('visibilityState', state);
            define('hidden', state === 'hidden');
            document.dispatchEvent(new Event('visibilitychange'));
        }""",
        state,
    )


def status_line(page: Page) -> str:
    return page.inner_text(".jupyter-creds-panel .jc-status-line")


@pytest.fixture
def page_errors() -> list[str]:
    """Uncaught exceptions in the page (widget.js runs there)."""
    return []


@pytest.fixture
def page(browser_context: BrowserContext, page_errors: list[str]) -> Page:
    page = browser_context.new_page()
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    return page


def test_polling_follows_visibility(demo, page, page_errors, shot):
    notebook_with_panel(demo, page, "polling.ipynb", f"%credentials --interval {INTERVAL}")

    # While the panel is on screen: a refresh every 2 s
    start = kernel_lists(demo)
    wait_until(page, lambda: kernel_lists(demo) >= start + 2, 3 * INTERVAL + 1, "polling")

    # Scrolled out of view: not one request
    scroll_panel_away(page)
    page.wait_for_timeout(1000)
    shot(page, "scrolled-away")
    before = kernel_lists(demo)
    page.wait_for_timeout(3 * INTERVAL * 1000)
    assert kernel_lists(demo) == before, "requests while the panel was scrolled away"

    # Back on screen: one at once, then every 2 s again
    scroll_to_top(page)
    wait_until(page, lambda: kernel_lists(demo) > before, 1.5, "a refresh when shown again")
    again = kernel_lists(demo)
    wait_until(page, lambda: kernel_lists(demo) >= again + 2, 3 * INTERVAL + 1, "polling again")

    # The browser tab hidden: not one request
    set_tab_visibility(page, "hidden")
    page.wait_for_timeout(1000)
    before = kernel_lists(demo)
    page.wait_for_timeout(3 * INTERVAL * 1000)
    assert kernel_lists(demo) == before, "requests while the tab was hidden"

    # Visible again: one at once, then polling
    set_tab_visibility(page, "visible")
    wait_until(page, lambda: kernel_lists(demo) > before, 1.5, "a refresh when the tab is back")
    again = kernel_lists(demo)
    wait_until(page, lambda: kernel_lists(demo) >= again + 2, 3 * INTERVAL + 1, "polling again")
    assert not page_errors


def test_sign_in_insert_copy_and_save(demo, page, page_errors, browser_context, shot):
    if demo.integration(ANALYTICS_ID)["status"] == "authenticated":
        demo.sign_out(ANALYTICS_ID)
    notebook_with_panel(demo, page, "signin.ipynb", "%credentials")
    row = page.locator(ROW)
    assert "Not signed in" in row.inner_text()

    # Sign in from the panel: the provider's window opens on the click, demo / demo, Allow
    with browser_context.expect_page() as opened:
        row.locator("button.jc-signin").click()
    popup = opened.value
    popup.wait_for_selector("input[name=username]", timeout=30_000)
    assert popup.url.startswith(demo.issuer + "/authorize?")
    popup.fill("input[name=username]", "demo")
    popup.fill("input[name=password]", "demo")
    popup.click("button[type=submit]")
    popup.click("button[name=decision][value=approve]")

    # The row turns Authenticated at once (the callback page's message), with the account
    page.wait_for_selector(f"{ROW}.jc-status-authenticated", timeout=15_000)
    assert "demo@example.com" in row.inner_text()
    assert status_line(page) == "Signed in to Demo Analytics as demo@example.com."
    shot(page, "signed-in")

    # Insert into cell: the JupyterLab extension puts the snippet in a new cell below
    row.locator("button", has_text="Snippet").click()
    page.wait_for_selector(f"{ROW} .jc-snippet .jc-copy-value")
    cells = page.locator(".jp-NotebookPanel .jp-Cell")
    count = cells.count()
    row.locator("button.jc-insert").click()
    wait_until(page, lambda: cells.count() == count + 1, 5, "the inserted cell")
    assert "get_credentials" in cells.nth(1).inner_text()
    wait_until(page, lambda: "Inserted" in status_line(page), 5, "the insert's report")
    assert status_line(page) == "Inserted the Python snippet into a new cell."

    # Where no extension answers, the snippet goes to the clipboard and the panel says so
    page.evaluate(
        "window.addEventListener('jupyter-creds:insert-snippet', e => e.stopPropagation(), true)"
    )
    row.locator("button.jc-insert").click()
    wait_until(page, lambda: "instead" in status_line(page), 5, "the clipboard fallback")
    assert status_line(page) == "Copied to clipboard instead: no Jupyter extension answered."
    assert cells.count() == count + 1
    code = demo.snippet(ANALYTICS_ID, "python")
    assert page.evaluate("navigator.clipboard.readText()").strip() == code.strip()

    # A detail's copy button
    row.locator("button.jc-toggle").click()
    line = row.locator(".jc-detail", has_text="Client ID")
    line.hover()
    line.locator("button.jc-copy").click()
    wait_until(page, lambda: "Client ID" in status_line(page), 5, "the copy's report")
    assert page.evaluate("navigator.clipboard.readText()") == "demo-analytics"
    shot(page, "details-and-snippet")

    # Saved with widget state: the panel is in the file, no token or secret is
    page.keyboard.press("Control+s")
    saved = demo.home / "signin.ipynb"

    def has_widget_state() -> bool:
        return "application/vnd.jupyter.widget-state+json" in saved.read_text()

    wait_until(page, has_widget_state, 10, "the notebook saved with widget state")
    text = saved.read_text()
    notebook = json.loads(text)
    states = notebook["metadata"]["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    assert any(
        "jupyter-creds-panel" in (model["state"].get("_dom_classes") or [])
        for model in states.values()
    ), "the panel's state was not saved"
    inserted = notebook["cells"][1]["source"]  # a list of lines in a saved file
    assert "".join(inserted).strip() == code.strip()
    access_token = demo.access_token(ANALYTICS_ID)
    assert access_token not in text
    assert DEMO_SECRET not in text
    assert not page_errors


def test_a_blocked_sign_in_window_becomes_a_link(demo, page, page_errors, browser_context):
    warehouse = ".jupyter-creds-panel .jc-row.jc-id-" + WAREHOUSE_ID
    if demo.integration(WAREHOUSE_ID)["status"] == "authenticated":
        demo.sign_out(WAREHOUSE_ID)
    notebook_with_panel(demo, page, "blocked.ipynb", "%credentials")

    # Given a browser that blocks the window opened on the click
    page.evaluate("window.open = () => null")
    page.locator(f"{warehouse} button.jc-signin").click()

    # Then the panel offers a link to the provider's page (in the page only, not in any trait)
    link = page.locator(".jupyter-creds-panel .jc-note a")
    link.wait_for(timeout=15_000)
    assert link.inner_text() == "Open the sign-in page for Demo Warehouse (public PKCE client)"
    assert link.get_attribute("href").startswith(demo.issuer + "/authorize?")

    # And following it signs in; the panel hears it on the BroadcastChannel (no opener)
    with browser_context.expect_page() as opened:
        link.click()
    popup = opened.value
    popup.fill("input[name=username]", "demo")
    popup.fill("input[name=password]", "demo")
    popup.click("button[type=submit]")
    popup.click("button[name=decision][value=approve]")
    page.wait_for_selector(f"{warehouse}.jc-status-authenticated", timeout=15_000)
    assert page.locator(".jupyter-creds-panel .jc-note").count() == 0
    assert not page_errors
