"""`%credentials` in a real IPython shell, against the real server and the embedded provider.

pytest-jupyter serves on this test's event loop, so every call that reaches the server through the
(synchronous) kernel client runs in a worker thread while the loop keeps serving.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest
from conftest import ANALYTICS_ID, BROKEN_ID, SENTINEL_SECRET, WAREHOUSE_ID
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import CapturedIO, capture_output
from kernels import run_code, start_kernel
from signin_driver import approve
from traitlets.config import Config

from jupyter_creds.magic import CredentialsMagics, find_integration
from jupyter_creds.snippets import snippet_code

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


@pytest.fixture
def shell(api) -> Iterator[InteractiveShell]:
    """IPython with `%load_ext jupyter_creds` done; its client reads this test's server's env."""
    config = Config()
    config.HistoryManager.enabled = False
    ip = InteractiveShell.instance(config=config)
    ip.extension_manager.load_extension("jupyter_creds")
    assert "credentials" in ip.magics_manager.magics["line"]
    # The shell is a process-wide singleton: give it a magic with a client for this server.
    magics = CredentialsMagics(ip)
    ip.register_magics(magics)
    ip.rl_next_input = None
    yield ip
    if magics._client is not None:
        magics._client.close()


@pytest.fixture
def magic(shell):
    """`await magic("list")` runs `%credentials list` in a worker thread, capturing its output."""

    def run(line: str) -> CapturedIO:
        with capture_output() as captured:
            shell.run_line_magic("credentials", line)
        return captured

    async def call(line: str = "") -> CapturedIO:
        return await asyncio.to_thread(run, line)

    return call


def everything(captured: CapturedIO) -> str:
    """stdout, stderr and every display, as one string to grep."""
    return "\n".join(
        [captured.stdout, captured.stderr]
        + [json.dumps(output.data) for output in captured.outputs]
    )


async def test_list_is_a_table_in_html_and_in_text(magic):
    captured = await magic("list")
    (output,) = captured.outputs
    text = output.data["text/plain"]
    header, *lines = text.splitlines()
    assert header.split() == ["NAME", "STATUS", "ID", "ACCOUNT", "EXPIRES"]
    # aligned: every id starts in the column of the header's ID
    column = header.index("ID")
    for guid in (ANALYTICS_ID, WAREHOUSE_ID, BROKEN_ID):
        (line,) = [line for line in lines if guid in line]
        assert line.index(guid) == column
    assert any(line.startswith("analytics") and "Not signed in" in line for line in lines)
    assert any(line.startswith("legacy-crm") and "Configuration error" in line for line in lines)
    # the reason of the configuration error is a note under the table
    assert any(line.startswith("legacy-crm:") and "token_url" in line for line in lines)

    html = output.data["text/html"]
    assert html.startswith("<table")
    assert html.count("<tr>") == 4
    assert 'aria-label="Configuration error: ' in html  # the warning icon and its reason
    assert 'aria-label="Not signed in"' in html


async def test_signin_shows_a_link_that_signs_in(magic, browser):
    captured = await magic("signin analytics")
    (output,) = captured.outputs
    html, text = output.data["text/html"], output.data["text/plain"]
    assert "target='_blank'" in html
    assert "noopener noreferrer" in html
    assert "Sign in to Demo Analytics" in html
    url = text.splitlines()[-1]
    assert url.startswith("http://127.0.0.1:")
    assert "state=" in url
    assert url.replace("&", "&amp;") in html

    # The link is the real thing: the provider's pages lead back to our callback.
    callback = await approve(browser, url)
    page = await browser.get(callback)
    assert "Signed in to Demo Analytics" in page.text

    listed = (await magic("list")).outputs[0].data["text/plain"]
    (row,) = [line for line in listed.splitlines() if line.startswith("analytics ")]
    assert "Authenticated" in row
    assert "demo@example.com" in row


async def test_signin_by_display_name_or_id_any_case(magic):
    for name in ("DEMO WAREHOUSE (public pkce client)", WAREHOUSE_ID.upper()):
        captured = await magic(f'signin "{name}"')
        assert "Sign in to Demo Warehouse" in captured.outputs[0].data["text/html"]


async def test_signin_to_a_misconfigured_integration_says_why(magic):
    with pytest.raises(UsageError, match="token_url"):
        await magic("signin legacy-crm")


async def test_snippet_goes_into_the_next_cell(magic, shell):
    await magic("snippet analytics")
    assert shell.rl_next_input == snippet_code(ANALYTICS_ID, "python")
    await magic(f"snippet {WAREHOUSE_ID} --language R")
    assert shell.rl_next_input == snippet_code(WAREHOUSE_ID, "r")
    with pytest.raises(UsageError, match="python or r"):
        await magic("snippet analytics --language julia")


async def test_signout(magic, sign_in, api):
    await sign_in(ANALYTICS_ID)
    captured = await magic("signout analytics")
    assert captured.stdout.strip() == "Signed out of Demo Analytics."
    assert (await api.integrations())[ANALYTICS_ID]["status"] == "not_signed_in"
    captured = await magic("signout analytics")
    assert captured.stdout.strip() == "You were not signed in to Demo Analytics."


async def test_unknown_name_lists_close_matches(magic):
    with pytest.raises(UsageError) as info:
        await magic("signin analytcs")
    message = str(info.value)
    assert "No integration is called 'analytcs'" in message
    assert "Did you mean: analytics?" in message
    with pytest.raises(UsageError, match="The integrations are: analytics, warehouse, legacy-crm"):
        await magic("snippet zzzzzzzz")


async def test_usage_errors(magic):
    with pytest.raises(UsageError, match="Unknown command 'frobnicate'"):
        await magic("frobnicate")
    with pytest.raises(UsageError, match="needs an integration"):
        await magic("signin")
    with pytest.raises(UsageError, match="--interval applies to the panel"):
        await magic("list --interval 5")
    with pytest.raises(UsageError, match="interval must be 0"):
        await magic("--interval 0.2")


def test_find_integration_prefers_ids_then_names():
    a = {"id": "1", "name": "alpha", "display_name": "Beta"}
    b = {"id": "2", "name": "beta", "display_name": "Alpha"}
    assert find_integration([a, b], "beta") is b
    assert find_integration([a, b], "ALPHA") is a
    assert find_integration([a, b], "2") is b
    same = {"id": "3", "name": "alpha", "display_name": "Gamma"}
    with pytest.raises(UsageError, match="several integrations"):
        find_integration([a, same], "alpha")
    with pytest.raises(UsageError, match="No integrations are configured"):
        find_integration([], "alpha")


async def test_help(magic, shell):
    captured = await magic("--help")
    for word in ("list", "snippet", "signin", "signout", "--language", "--interval"):
        assert word in captured.stdout
    assert "while a cell is running" in captured.stdout
    # `%credentials?` shows the same text
    magic_function = shell.find_line_magic("credentials")
    assert "NAME_OR_ID" in magic_function.__doc__


async def test_no_args_shows_the_panel(magic):
    from ipywidgets.widgets.widget import _instances

    captured = await magic("--interval 5")
    (output,) = captured.outputs
    panel = _instances[output.data[WIDGET_MIME]["model_id"]]
    try:
        assert type(panel).__name__ == "CredentialsPanel"
        assert panel.interval == 5
        assert set(panel.rows) == {ANALYTICS_ID, WAREHOUSE_ID, BROKEN_ID}
        # a terminal (or an export without widgets) shows the table
        assert output.data["text/plain"].splitlines()[0].split()[0] == "NAME"
    finally:
        panel.close()


async def test_no_token_or_secret_in_any_output(magic, sign_in, api, creds_app):
    await sign_in(ANALYTICS_ID)
    code, creds, _ = await api.credentials(ANALYTICS_ID)
    assert code == 200
    refresh_token = creds_app.store.get(ANALYTICS_ID).refresh_token
    outputs = []
    for line in (
        "list",
        "",
        "--help",
        "signin analytics",
        "snippet analytics",
        "signout analytics",
    ):
        outputs.append(everything(await magic(line)))
    text = "\n".join(outputs)
    assert "Signed out of Demo Analytics" in text
    for secret in (creds["access_token"], refresh_token, SENTINEL_SECRET):
        assert secret not in text


async def test_magic_in_a_kernel_started_by_the_server(api, sign_in, jp_fetch, jp_serverapp):
    await sign_in(ANALYTICS_ID)
    kernel_id = await start_kernel(jp_fetch)
    out, errors = await run_code(
        jp_serverapp, kernel_id, "%load_ext jupyter_creds\n%credentials list"
    )
    assert not errors, errors
    (row,) = [line for line in out.splitlines() if line.startswith("analytics ")]
    assert "Authenticated" in row
    assert ANALYTICS_ID in row
    assert "demo@example.com" in row
    # IPython shows a UsageError as one line on stderr, without a traceback
    out, _ = await run_code(jp_serverapp, kernel_id, "%credentials signin nope")
    assert "UsageError: No integration is called 'nope'" in out
    assert "Traceback" not in out
