"""The notebook panel's widget models, without a browser, against the real server.

The front end's messages are handed to the panel as widget.js sends them; what the panel sends
back is recorded. Calls that reach the server run in a worker thread (the server is on this
test's event loop).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from typing import Any

import ipywidgets as widgets
import pytest
from conftest import ANALYTICS_ID, BROKEN_ID, SENTINEL_SECRET, WAREHOUSE_ID
from signin_driver import approve

from jupyter_creds import Client
from jupyter_creds.widget import CredentialsPanel
from jupyter_creds.widget_rows import IntegrationRow


class Sent(list):
    """Messages the panel sent to the browser."""

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self if m.get("type") == kind]


@pytest.fixture
def client(api) -> Iterator[Client]:
    with Client() as c:  # the server's env, set once it started (`api` starts it)
        yield c


@pytest.fixture
def make_panel(client):
    panels: list[CredentialsPanel] = []

    async def make(**kwargs: Any) -> tuple[CredentialsPanel, Sent]:
        panel = await asyncio.to_thread(CredentialsPanel, client=client, **kwargs)
        sent = Sent()
        panel.helper.send = lambda content, buffers=None: sent.append(content)
        panels.append(panel)
        return panel, sent

    yield make
    for panel in panels:
        panel.close()


async def browser_says(panel: CredentialsPanel, **message: Any) -> None:
    """A custom message from widget.js, as the comm delivers it."""
    await asyncio.to_thread(panel._on_browser_message, panel.helper, message, [])


async def click(button: widgets.Button) -> None:
    await asyncio.to_thread(button.click)


def tree(widget: widgets.Widget) -> Iterator[widgets.Widget]:
    """The widget and every widget its traits refer to (children, layout, style, ...)."""
    seen: set[str] = set()
    todo = [widget]
    while todo:
        w = todo.pop()
        if w.model_id in seen:
            continue
        seen.add(w.model_id)
        yield w
        for name in w.trait_names():
            value = getattr(w, name)
            values = value if isinstance(value, (list, tuple)) else [value]
            todo.extend(v for v in values if isinstance(v, widgets.Widget))


def row_text(row: IntegrationRow) -> str:
    return row.title.value


async def test_rows_show_the_status_of_each_integration(make_panel):
    panel, _ = await make_panel()
    assert list(panel.rows) == [ANALYTICS_ID, WAREHOUSE_ID, BROKEN_ID]
    assert panel.rows_box.children == tuple(panel.rows.values())
    analytics = panel.rows[ANALYTICS_ID]
    assert "jc-status-not_signed_in" in analytics._dom_classes
    assert f"jc-id-{ANALYTICS_ID}" in analytics._dom_classes
    assert 'aria-label="Not signed in"' in row_text(analytics)
    assert "Demo Analytics" in row_text(analytics)
    assert analytics.sign_in_button.layout.display == ""
    assert not analytics.sign_in_button.disabled
    assert "jc-signin" in analytics.sign_in_button._dom_classes
    assert analytics.sign_out_button.layout.display == "none"
    assert panel.updated_text() == "Updated just now"


async def test_config_error_row_shows_the_warning_and_the_reason(make_panel):
    panel, _ = await make_panel()
    broken = panel.rows[BROKEN_ID]
    reason = broken.integration["error"]
    assert "token_url" in reason
    assert "jc-status-config_error" in broken._dom_classes
    assert f'aria-label="Configuration error: {reason}' in row_text(broken)  # the warning icon
    assert broken.title.tooltip == f"Configuration error: {reason}"  # pointing at the row
    assert broken.sign_in_button.disabled
    assert reason in broken.sign_in_button.tooltip

    # The details say it too, with a copy button on every value
    await click(broken.toggle)
    assert broken.expanded
    assert broken.details in broken.children
    assert broken.toggle.icon == "caret-down"
    error = broken.lines["error"]
    assert error.layout.display == ""
    assert reason.split(" (")[0] in error.value_html.value
    assert "jc-copy" in error.copy_button._dom_classes
    assert broken.lines["token_url"].copy_button.layout.visibility == "hidden"  # none to copy
    await click(broken.toggle)
    assert broken.children == (broken.header,)


async def test_details_of_an_integration(make_panel, provider):
    panel, _ = await make_panel()
    row = panel.rows[ANALYTICS_ID]
    await click(row.toggle)
    values = {key: line.value_html.value for key, line in row.lines.items()}
    assert ANALYTICS_ID in values["id"]
    assert provider.issuer in values["issuer"]
    assert "demo-analytics" in values["client_id"]
    assert "openid profile email offline_access" in values["scopes"]
    assert "/authorize" in values["auth_url"]
    assert "/token" in values["token_url"]
    assert row.lines["error"].layout.display == "none"
    for key in ("id", "issuer", "client_id", "scopes", "auth_url", "token_url"):
        line = row.lines[key]
        assert 'class="jc-copy-value"' in line.value_html.value  # what widget.js copies
        assert line.copy_button.tooltip == f"Copy {line.label}"
        assert {"jc-detail", "jc-copy-scope"} <= set(line._dom_classes)


async def test_sign_in_from_the_panel(make_panel, browser, provider):
    panel, sent = await make_panel()
    row = panel.rows[ANALYTICS_ID]

    # When the person clicks Sign In (widget.js has opened a blank window on the same click)
    await click(row.sign_in_button)

    # Then the kernel sends the authorization URL for that window, in a message (not a trait)
    (message,) = sent.of("signin-url")
    assert message["integration_id"] == ANALYTICS_ID
    assert message["url"].startswith(provider.issuer + "/authorize?")
    assert message["name"] == "Demo Analytics"
    assert "window that opened" in panel.status_text

    # When the provider's pages are done and the callback page reports it
    callback = await approve(browser, message["url"])
    assert (await browser.get(callback)).status_code == 200
    await browser_says(panel, type="signin-done", integration_id=ANALYTICS_ID, ok=True, error=None)

    # Then the row is authenticated at once, with the account and the id as its description
    assert "jc-status-authenticated" in row._dom_classes
    assert 'aria-label="Authenticated"' in row_text(row)
    assert ANALYTICS_ID in row_text(row)
    assert "demo@example.com" in row_text(row)
    assert row.sign_in_button.layout.display == "none"
    assert row.sign_out_button.layout.display == ""
    assert panel.status_text == "Signed in to Demo Analytics as demo@example.com."
    await click(row.toggle)
    assert "demo@example.com" in row.lines["account"].value_html.value
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", row.lines["expires_at"].value_html.value)


async def test_a_failed_sign_in_is_reported(make_panel):
    panel, sent = await make_panel()
    await browser_says(
        panel, type="signin-done", integration_id=ANALYTICS_ID, ok=False, error="access_denied"
    )
    assert panel.status_text == "Signing in to Demo Analytics did not complete: access_denied"
    # a sign-in the server refuses to start closes the blank window
    await click(panel.rows[BROKEN_ID].sign_in_button)
    (failed,) = sent.of("signin-failed")
    assert failed["integration_id"] == BROKEN_ID
    assert "Couldn't start signing in to Legacy CRM" in panel.status_text
    assert not sent.of("signin-url")


async def test_sign_out_from_the_panel(make_panel, sign_in, api, creds_app):
    await sign_in(ANALYTICS_ID)
    panel, _ = await make_panel()
    row = panel.rows[ANALYTICS_ID]
    assert "jc-status-authenticated" in row._dom_classes
    await click(row.sign_out_button)
    await creds_app.credentials.drain()
    assert "jc-status-not_signed_in" in row._dom_classes
    assert row.sign_in_button.layout.display == ""
    assert panel.status_text == "Signed out of Demo Analytics."
    assert (await api.integrations())[ANALYTICS_ID]["status"] == "not_signed_in"


async def test_ticks_refresh_and_are_answered(make_panel, sign_in, client, monkeypatch):
    panel, sent = await make_panel(interval=5)
    assert panel.helper.interval == 5
    calls = []
    find = client.oauth.integrations.find
    monkeypatch.setattr(client.oauth.integrations, "find", lambda: calls.append(1) or find())
    now = [panel.updated_at + 42.0]
    panel._clock = lambda: now[0]
    assert panel.updated_text() == "Updated 42 s ago"
    assert 'data-updated-at="' in panel.updated_html.value  # widget.js keeps it current

    # Given a sign-in elsewhere (the sidebar, another tab), when the browser's timer ticks
    await sign_in(ANALYTICS_ID)
    await browser_says(panel, type="tick")

    # Then the panel asked the server once, shows the new state, and answered the tick
    assert len(calls) == 1
    assert "jc-status-authenticated" in panel.rows[ANALYTICS_ID]._dom_classes
    assert panel.updated_text() == "Updated just now"
    assert panel.helper.updated_at == now[0]
    assert len(sent.of("refreshed")) == 1

    # Ticks from several views or tabs at once share one refresh, and are all answered
    await browser_says(panel, type="tick")
    assert len(calls) == 1
    assert len(sent.of("refreshed")) == 2
    now[0] += 1.5
    await browser_says(panel, type="tick")
    assert len(calls) == 2


async def test_a_failed_refresh_keeps_the_rows_and_says_why(make_panel, client, monkeypatch):
    panel, _ = await make_panel()
    monkeypatch.setattr(client, "url", "http://127.0.0.1:9/api/creds/")
    client.close()
    await click(panel.refresh_button)
    assert panel.status_text.startswith("Couldn't refresh: Could not reach the Jupyter server")
    assert len(panel.rows) == 3
    monkeypatch.undo()
    client.close()
    await click(panel.refresh_button)
    assert panel.status_text == ""


async def test_snippet_view(make_panel):
    panel, _ = await make_panel()
    row = panel.rows[WAREHOUSE_ID]
    await click(row.snippet_button)
    view = row.snippet_view
    assert view in row.children
    assert {"jc-snippet", "jc-copy-scope"} <= set(view._dom_classes)
    assert 'data-language="python"' in view.code.value
    assert 'class="highlight"' in view.code.value  # Pygments
    assert WAREHOUSE_ID in view.code.value
    assert "get_credentials" in view.code.value
    assert "jc-insert" in view.insert_button._dom_classes
    assert "jc-copy" in view.copy_button._dom_classes
    await asyncio.to_thread(setattr, view.language, "value", "r")
    assert 'data-language="r"' in view.code.value
    assert "JUPYTER_CREDS_URL" in view.code.value
    await click(row.snippet_button)
    assert view not in row.children


async def test_copy_and_insert_results_from_the_browser(make_panel):
    panel, _ = await make_panel()
    await browser_says(panel, type="copied", ok=True, what="Client ID", error=None)
    assert panel.status_text == "Copied Client ID to the clipboard."
    await browser_says(panel, type="copied", ok=False, what="Client ID", error="denied")
    assert panel.status_text == "Couldn't copy Client ID: denied"
    await browser_says(panel, type="inserted", how="cell", language="r", error=None)
    assert panel.status_text == "Inserted the R snippet into a new cell."
    await browser_says(
        panel,
        type="inserted",
        how="clipboard",
        language="python",
        error="no Jupyter extension answered",
    )
    assert panel.status_text == "Copied to clipboard instead: no Jupyter extension answered."
    await browser_says(panel, type="inserted", how="failed", language="python", error="denied")
    assert panel.status_text == "Couldn't insert or copy the Python snippet: denied"
    # the kernel may ask for a copy too (widget.js writes it and reports back)
    sent: list[dict] = []
    panel.helper.send = lambda content, buffers=None: sent.append(content)
    panel.copy_to_clipboard("some text", "the text")
    assert sent == [{"type": "copy", "text": "some text", "what": "the text"}]
    # junk is ignored
    await browser_says(panel, type="nonsense")
    await asyncio.to_thread(panel._on_browser_message, panel.helper, "not a dict", [])


async def test_interval_setting(make_panel):
    panel, _ = await make_panel(interval=0)
    assert panel.interval == 0
    panel.interval = 2
    assert panel.helper.get_state()["interval"] == 2
    with pytest.raises(ValueError, match="interval must be 0"):
        panel.interval = 0.5
    with pytest.raises(ValueError, match="interval must be 0"):
        CredentialsPanel(client=None, interval=-1)


async def test_no_token_or_secret_in_any_trait(make_panel, sign_in, api, creds_app):
    # Given a signed-in integration whose token the server has handed out
    await sign_in(ANALYTICS_ID)
    code, creds, _ = await api.credentials(ANALYTICS_ID)
    assert code == 200
    secrets = [creds["access_token"], creds_app.store.get(ANALYTICS_ID).refresh_token]
    secrets.append(SENTINEL_SECRET)

    # When the panel shows everything it can: details and snippets of every row, a tick
    panel, sent = await make_panel()
    for row in panel.rows.values():
        await click(row.toggle)
        await click(row.snippet_button)
    await browser_says(panel, type="tick")

    # Then no widget's state (what a notebook saves) holds any of them
    states = [json.dumps(w.get_state(), default=str) for w in tree(panel)]
    assert len(states) > 50
    everything = "\n".join(states + [json.dumps(m) for m in sent])
    assert "demo@example.com" in everything  # the account is fine, and it is there
    for secret in secrets:
        assert secret not in everything


async def test_rows_follow_the_integrations_file(make_panel, integrations_file, api, provider):
    panel, _ = await make_panel()
    removed = panel.rows[ANALYTICS_ID]
    await click(removed.toggle)

    # When the administrator removes two integrations from the file
    text = integrations_file.read_text()
    kept = "[[integration]]" + text.split("[[integration]]")[2]  # the warehouse only
    assert WAREHOUSE_ID in kept
    integrations_file.write_text(kept)
    for _ in range(50):
        if list(await api.integrations()) == [WAREHOUSE_ID]:
            break
        await asyncio.sleep(0.1)
    await click(panel.refresh_button)

    # Then their rows are gone, and closed with everything they held
    assert list(panel.rows) == [WAREHOUSE_ID]
    assert panel.rows_box.children == (panel.rows[WAREHOUSE_ID],)
    assert removed.comm is None
    assert removed.lines["client_id"].copy_button.comm is None

    # And with no integration at all, the panel says so
    integrations_file.write_text("")
    for _ in range(50):
        if not await api.integrations():
            break
        await asyncio.sleep(0.1)
    await click(panel.refresh_button)
    assert panel.rows == {}
    assert panel.rows_box.children == (panel.empty_html,)
