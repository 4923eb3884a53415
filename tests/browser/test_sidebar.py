"""The "Available Credentials" sidebar, driven in Debian's Chromium as a person would (issue 3).

One `jupyter creds demo` for the module. The tests run in file order and the server state flows
(sign in, then details, snippets, notebook, sign out), but each test first puts the server in the
state it needs over REST, so any one of them also runs alone. Each step's screenshot is saved in
tests/artifacts/screenshots/ (gitignored); the two theme shots are sidebar-light.png and
sidebar-dark.png.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import BrowserContext, Locator, Page, expect
from playwright.sync_api import Error as PlaywrightError

from jupyter_creds.demo import ANALYTICS_ID, BROKEN_ID, WAREHOUSE_ID

from .conftest import PANEL, SIDEBAR_TAB, Demo, RequestLog, free_port, open_lab, screenshot_path

pytestmark = pytest.mark.browser

Shot = Callable[..., Path]

ANSI = re.compile(r"\x1b\[[0-9;]*m")
SCOPES = "openid profile email offline_access"
THEMES_PLUGIN = "@jupyterlab/apputils-extension:themes"
CREDS_PLUGIN = "jupyter-creds:plugin"
JUPYTERLAB_OWN_ITEM = "Shift+Right Click for Browser Menu"  # on every JupyterLab context menu


# --- what a person does -------------------------------------------------------------------------


def open_panel(page: Page) -> Locator:
    """Click the key tab in the left sidebar (if the panel is not showing); wait for the tree."""
    panel = page.locator(PANEL)
    if not panel.is_visible():
        page.locator(SIDEBAR_TAB).click()
    expect(panel).to_be_visible()
    expect(panel.locator(".jp-creds-Tree")).to_be_visible()
    return panel


def row(page: Page, integration_id: str) -> Locator:
    return page.locator(f'{PANEL} [data-integration-id="{integration_id}"]')


def row_line(page: Page, integration_id: str) -> Locator:
    return row(page, integration_id).locator(":scope > .jp-creds-Row")


def menu_item(page: Page, label: str) -> Locator:
    return page.locator(f".lm-Menu .lm-Menu-item:has(.lm-Menu-itemLabel:text-is('{label}'))")


def open_context_menu(page: Page, integration_id: str) -> list[str]:
    """Right-click the row; return the labels of the menu's items (JupyterLab's own left out)."""
    row_line(page, integration_id).click(button="right")
    menu = page.locator(".lm-Menu").last
    expect(menu).to_be_visible()
    items = menu.locator('.lm-Menu-item[data-type="command"]:not(.lm-mod-hidden)')
    labels = items.locator(".lm-Menu-itemLabel").all_inner_texts()
    return [label for label in labels if label != JUPYTERLAB_OWN_ITEM]


def context_menu(page: Page, integration_id: str, label: str) -> None:
    open_context_menu(page, integration_id)
    menu_item(page, label).click()
    expect(page.locator(".lm-Menu")).to_have_count(0)


def clipboard(page: Page) -> str:
    return page.evaluate("navigator.clipboard.readText()")


def clear_clipboard(page: Page) -> None:
    page.evaluate("navigator.clipboard.writeText('(clipboard cleared by the test)')")


def wait_for_clipboard(page: Page, expected: str, demo: Demo, what: str) -> None:
    deadline = time.monotonic() + 5
    text = clipboard(page)
    while text != expected and time.monotonic() < deadline:
        page.wait_for_timeout(100)
        text = clipboard(page)
    assert text == expected, demo.why(f"{what}: the clipboard holds {text!r}, not {expected!r}")


def code_lines(scope: Locator) -> str:
    """The text of a CodeMirror editor, line by line (an empty last line = a trailing newline)."""
    return "\n".join(scope.locator(".cm-line").evaluate_all("els => els.map(e => e.textContent)"))


def palette_item(palette: Locator, label: str) -> Locator:
    exact = re.compile(f"^{re.escape(label)}$")
    return palette.locator(".lm-CommandPalette-item").filter(
        has=palette.page.locator(".lm-CommandPalette-itemLabel", has_text=exact)
    )


def run_palette(page: Page, label: str) -> None:
    """Ctrl+Shift+C, search the label, run it."""
    page.keyboard.press("Control+Shift+C")
    palette = page.locator(".jp-ModalCommandPalette")
    search = palette.locator(".lm-CommandPalette-input")
    expect(search).to_be_focused()
    search.fill(label)
    palette_item(palette, label).click()
    expect(palette).to_be_hidden()


def answer_dialog(page: Page, header: str, choice: str) -> None:
    """A `.jp-Dialog` titled `header`: choose `choice` in its select and accept."""
    dialog = page.locator(".jp-Dialog")
    expect(dialog.locator(".jp-Dialog-header")).to_have_text(header)
    dialog.locator("select").select_option(label=choice)
    dialog.locator(".jp-mod-accept").click()
    expect(dialog.locator(".jp-Dialog-header", has_text=header)).to_have_count(0)


def new_notebook(page: Page, kernel: str) -> Locator:
    """File > New > Notebook, pick the kernel in the dialog; the notebook panel."""
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^File$")).click()
    menu_item(page, "New").hover()
    menu_item(page, "Notebook").click()
    answer_dialog(page, "Select Kernel", kernel)
    notebook = page.locator(".jp-NotebookPanel:visible")
    expect(notebook.locator(".jp-Notebook .jp-Cell")).to_have_count(1)
    return notebook


def cells(notebook: Locator) -> Locator:
    return notebook.locator(".jp-Notebook .jp-Cell")


def provider_pages(popup: Page, decision: str = "approve", shot: Shot | None = None) -> None:
    """The provider's window: its login page (unless it remembers us), then its consent page."""
    username = popup.locator("#username")
    button = popup.locator(f"button[name=decision][value={decision}]")
    expect(username.or_(button)).to_be_visible()
    if username.is_visible():
        if shot:
            shot(popup, "02b-provider-login", exact=True)
        username.fill("demo")
        popup.locator("#password").fill("demo")
        popup.locator("button[type=submit]").click()
    expect(button).to_be_visible()
    if shot:
        shot(popup, "02c-provider-consent", exact=True)
    button.click()


def sign_in_in_popup(
    context: BrowserContext, start: Callable[[], object], decision: str = "approve"
) -> Page:
    """Start a sign-in (`start` clicks), then log in and decide in the provider's window."""
    with context.expect_page() as popup_info:
        start()
    popup = popup_info.value
    provider_pages(popup, decision)
    return popup


# --- 1. the panel -------------------------------------------------------------------------------


def test_panel_shows_three_rows_with_status_icons(lab_page: Page, demo: Demo, shot: Shot):
    demo.sign_out(ANALYTICS_ID)
    demo.sign_in(WAREHOUSE_ID)
    broken_error = demo.integration(BROKEN_ID)["error"]
    page = lab_page
    layouts: list[str] = []  # the layouts JupyterLab saves in its workspace
    page.on(
        "request",
        lambda r: (
            layouts.append((r.post_data or "").replace(" ", ""))
            if r.method == "PUT" and "/lab/api/workspaces/" in r.url
            else None
        ),
    )

    panel = open_panel(page)
    expect(panel.locator(".jp-SidePanel-header")).to_have_text("Available Credentials")
    expect(page.locator(SIDEBAR_TAB)).to_have_attribute(
        "title", re.compile("Available Credentials")
    )
    expect(panel.locator(".jp-creds-Panel-refresh")).to_have_attribute(
        "aria-label", "Refresh Available Credentials"
    )
    tree = panel.locator(".jp-creds-Tree")
    expect(tree).to_have_attribute("role", "tree")
    expect(tree.locator(":scope > [data-integration-id]")).to_have_count(3)

    expected = {
        ANALYTICS_ID: ("Demo Analytics", "not_signed_in", "Not signed in", "lock"),
        WAREHOUSE_ID: (
            "Demo Warehouse (public PKCE client)",
            "authenticated",
            "Authenticated",
            "key",
        ),
        BROKEN_ID: ("Legacy CRM (misconfigured)", "config_error", "Configuration error", "warning"),
    }
    for integration_id, (name, status, label, icon) in expected.items():
        item = row(page, integration_id)
        expect(item).to_have_attribute("data-status", status)
        expect(item.locator(".jp-creds-Row-name")).to_have_text(name)
        status_icon = item.locator(".jp-creds-Row-status")
        expect(status_icon).to_have_attribute("aria-label", label)
        expect(status_icon).to_have_attribute("data-icon", icon)
        expect(status_icon.locator("svg")).to_be_visible()
        # Sign In only where it makes sense
        expect(item.locator(".jp-creds-Row-signIn")).to_have_count(
            1 if status == "not_signed_in" else 0
        )

    # Authenticated: the Integration ID is the description
    expect(row(page, WAREHOUSE_ID).locator(".jp-creds-Row-description")).to_have_text(WAREHOUSE_ID)
    expect(row(page, ANALYTICS_ID).locator(".jp-creds-Row-description")).to_have_count(0)
    # Configuration error: the reason is in the tooltip
    assert "token_url" in broken_error, broken_error
    # pointing anywhere on the row (its icon, its name) shows the reason: the browser's tooltip
    # is the title of the nearest element that has one
    for part in (".jp-creds-Row-status", ".jp-creds-Row-status svg", ".jp-creds-Row-name"):
        tooltip = (
            row_line(page, BROKEN_ID)
            .locator(part)
            .evaluate("e => e.closest('[title]') && e.closest('[title]').getAttribute('title')")
        )
        assert f"Configuration error: {broken_error}" in (tooltip or ""), demo.why(
            f"pointing at {part} shows the tooltip {tooltip!r}"
        )
    row_line(page, BROKEN_ID).hover()
    shot(page, "01-panel-three-rows", exact=True)

    # Keyboard: arrows move, Enter expands, ArrowLeft collapses (a roving tab stop)
    row(page, ANALYTICS_ID).focus()
    page.keyboard.press("ArrowDown")
    expect(row(page, WAREHOUSE_ID)).to_be_focused()
    page.keyboard.press("Enter")
    expect(row(page, WAREHOUSE_ID)).to_have_attribute("aria-expanded", "true")
    page.keyboard.press("ArrowLeft")
    expect(row(page, WAREHOUSE_ID)).to_have_attribute("aria-expanded", "false")
    expect(row(page, WAREHOUSE_ID)).to_have_attribute("tabindex", "0")
    expect(row(page, ANALYTICS_ID)).to_have_attribute("tabindex", "-1")
    # the context-menu key opens the row's menu
    page.keyboard.press("ContextMenu")
    expect(menu_item(page, "Sign Out")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator(".lm-Menu")).to_have_count(0)

    # the open panel is part of the saved layout: a reload (without ?reset) shows it again
    deadline = time.monotonic() + 15
    while not any('"current":"jupyter-creds:sidebar"' in body for body in layouts) and (
        time.monotonic() < deadline
    ):
        page.wait_for_timeout(200)
    assert layouts, demo.why("JupyterLab never saved the layout")
    open_lab(page, demo, "lab")
    expect(page.locator(PANEL).locator(".jp-creds-Tree")).to_be_visible()


# --- 2. sign in ---------------------------------------------------------------------------------


def test_sign_in_through_popup_turns_row_authenticated(
    lab_page: Page, browser_context: BrowserContext, demo: Demo, shot: Shot
):
    demo.sign_out(ANALYTICS_ID)
    demo.sign_out(WAREHOUSE_ID)
    page = lab_page
    open_panel(page)
    analytics = row(page, ANALYTICS_ID)
    expect(analytics).to_have_attribute("data-status", "not_signed_in")
    page.evaluate("window.__sameDocument = true")  # gone if the page reloads
    sign_in_button = analytics.locator(".jp-creds-Row-signIn")

    # Sign In: a window opens at once (the row shows it is pending), the provider's login and
    # consent pages, then our callback page
    with browser_context.expect_page() as popup_info:
        sign_in_button.click()
    popup = popup_info.value
    expect(analytics).to_have_attribute("data-pending", "true")
    expect(analytics.locator(".jp-creds-Row-message")).to_contain_text("Signing in")
    expect(sign_in_button).to_be_disabled()
    expect(popup.locator("#username")).to_be_visible()
    assert popup.url.startswith(demo.issuer + "/"), popup.url
    shot(page, "02a-sign-in-pending", exact=True)
    provider_pages(popup, "approve", shot)
    popup.wait_for_url(re.compile(re.escape(demo.url + "creds/oauth/callback")))
    expect(popup.locator("h1")).to_have_text("Signed in to Demo Analytics")
    with contextlib.suppress(PlaywrightError):  # the page closes itself 1.5 s after a success
        shot(popup, "02d-callback-page", exact=True)

    # The row turns Authenticated at once: no reload, no waiting for the 30 s poll
    expect(analytics).to_have_attribute("data-status", "authenticated", timeout=5_000)
    expect(analytics).not_to_have_attribute("data-pending", "true")
    status_icon = analytics.locator(".jp-creds-Row-status")
    expect(status_icon).to_have_attribute("data-icon", "key")
    expect(status_icon).to_have_attribute("aria-label", "Authenticated")
    expect(analytics.locator(".jp-creds-Row-description")).to_have_text(ANALYTICS_ID)
    expect(analytics.locator(".jp-creds-Row-signIn")).to_have_count(0)
    expect(analytics.locator(".jp-creds-Row-message")).to_have_count(0)
    assert page.evaluate("window.__sameDocument") is True, "the page reloaded"
    assert demo.integration(ANALYTICS_ID)["status"] == "authenticated"
    shot(page, "02e-signed-in", exact=True)

    # Denied at the consent page: the row says why, and stays signed out
    warehouse = row(page, WAREHOUSE_ID)
    popup = sign_in_in_popup(
        browser_context, warehouse.locator(".jp-creds-Row-signIn").click, decision="deny"
    )
    expect(popup.locator("h1")).to_have_text("Sign-in did not complete")
    reason = popup.locator("#reason").inner_text()
    message = warehouse.locator(".jp-creds-Row-message")
    expect(message).to_have_class(re.compile(r"\bjp-mod-error\b"))
    expect(message).to_contain_text(f"Sign-in failed: {reason}")
    expect(warehouse).to_have_attribute("data-status", "not_signed_in")
    expect(warehouse).not_to_have_attribute("data-pending", "true")
    shot(page, "02f-sign-in-denied", exact=True)
    popup.close()
    assert demo.integration(WAREHOUSE_ID)["status"] == "not_signed_in"

    # A window closed before the end: the row stops waiting
    with browser_context.expect_page() as popup_info:
        warehouse.locator(".jp-creds-Row-signIn").click()
    popup = popup_info.value
    expect(warehouse).to_have_attribute("data-pending", "true")
    expect(popup.locator("button[name=decision]").first).to_be_visible()
    popup.close()
    expect(warehouse).not_to_have_attribute("data-pending", "true", timeout=5_000)
    expect(warehouse.locator(".jp-creds-Row-signIn")).to_be_enabled()
    expect(warehouse.locator(".jp-creds-Row-message")).to_have_count(0)


# --- 3. details ---------------------------------------------------------------------------------


def test_expanded_row_details_and_copy_values(lab_page: Page, demo: Demo, shot: Shot):
    demo.sign_in(ANALYTICS_ID)
    info = demo.integration(ANALYTICS_ID)
    page = lab_page
    open_panel(page)
    analytics = row(page, ANALYTICS_ID)
    row_line(page, ANALYTICS_ID).click()
    expect(analytics).to_have_attribute("aria-expanded", "true")

    expiry = page.evaluate("s => new Date(s * 1000).toLocaleString()", info["expires_at"])
    expected = {
        "id": ANALYTICS_ID,
        "issuer": demo.issuer,
        "client_id": "demo-analytics",
        "scopes": SCOPES,
        "auth_url": info["auth_url"],
        "token_url": info["token_url"],
        "account": "demo@example.com",
        "expires_at": expiry,
    }
    assert info["issuer"] == demo.issuer, info
    assert info["auth_url"].startswith(demo.issuer), info
    labels = {
        "id": "Integration ID",
        "issuer": "Issuer",
        "client_id": "Client ID",
        "scopes": "Scopes",
        "auth_url": "Auth URL",
        "token_url": "Token URL",
        "account": "Account",
        "expires_at": "Token Expires",
    }
    details = analytics.locator("[data-detail]")
    assert details.evaluate_all("els => els.map(e => e.dataset.detail)") == list(expected)
    for key, value in expected.items():
        detail = analytics.locator(f'[data-detail="{key}"]')
        expect(detail.locator(".jp-creds-Detail-label")).to_have_text(labels[key])
        expect(detail.locator(".jp-creds-Detail-value")).to_have_text(value)

    # Copy Value: hidden until the pointer is on the line; copies exactly that value
    id_line = analytics.locator('[data-detail="id"]')
    copy_id = id_line.locator('button.jp-creds-Detail-copy[aria-label="Copy Integration ID"]')
    expect(copy_id).to_be_hidden()
    clear_clipboard(page)
    id_line.hover()
    expect(copy_id).to_be_visible()
    shot(page, "03a-details-copy-hover", exact=True)
    copy_id.click()
    wait_for_clipboard(page, ANALYTICS_ID, demo, "Copy Integration ID")
    shot(page, "03b-copied-integration-id", exact=True)

    for key, value in expected.items():
        if key == "id":
            continue
        line = analytics.locator(f'[data-detail="{key}"]')
        clear_clipboard(page)
        line.hover()
        line.locator(f'button.jp-creds-Detail-copy[aria-label="Copy {labels[key]}"]').click()
        wait_for_clipboard(page, value, demo, f"Copy {labels[key]}")


# --- 4. view snippet ----------------------------------------------------------------------------


def test_view_python_snippet_tab(lab_page: Page, demo: Demo, shot: Shot):
    demo.sign_in(ANALYTICS_ID)
    code = demo.snippet(ANALYTICS_ID, "python")
    assert f'audience="{ANALYTICS_ID}"' in code
    assert code.endswith("\n")
    page = lab_page
    open_panel(page)

    labels = open_context_menu(page, ANALYTICS_ID)
    assert labels == [
        "Sign Out",
        "Copy Python Snippet",
        "Copy R Snippet",
        "View Python Snippet",
        "View R Snippet",
        "Insert Python Snippet",
        "Insert R Snippet",
    ], labels
    shot(page, "04a-context-menu", exact=True)
    menu_item(page, "View Python Snippet").click()

    tab = page.locator(".jp-creds-SnippetWidget")
    expect(tab).to_be_visible()
    expect(page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current")).to_contain_text(
        "Demo Analytics — Python snippet"
    )
    view = tab.locator(".jp-creds-SnippetView")
    expect(view.locator(".cm-line").first).to_be_visible()
    shown = code_lines(view)
    assert shown == code, demo.why(f"the tab shows\n{shown!r}\nthe REST snippet is\n{code!r}")

    # highlighted: CodeMirror token spans, keywords coloured unlike plain text and strings
    colours = view.locator(".cm-line").first.evaluate(
        """line => {
            const colour = e => getComputedStyle(e).color;
            const spans = [...line.querySelectorAll('span')];
            const keyword = spans.find(s => s.textContent === 'from');
            return {spans: spans.length, keyword: keyword && colour(keyword), line: colour(line)};
        }"""
    )
    assert colours["spans"] >= 2, colours
    assert colours["keyword"], colours
    assert colours["keyword"] != colours["line"], colours
    string_colour = (
        view.locator(".cm-line")
        .nth(3)
        .evaluate(
            """line => {
            const s = [...line.querySelectorAll('span')].find(e => e.textContent.includes('"'));
            return s ? getComputedStyle(s).color : null;
        }"""
        )
    )
    assert string_colour, "no string token on line 4"
    assert string_colour != colours["line"], string_colour

    # read-only: typing changes nothing
    view.locator(".cm-content").click()
    page.keyboard.type("oops")
    assert code_lines(view) == code

    # Copy to Clipboard: the toolbar button and the code lens above line 1
    clear_clipboard(page)
    tab.locator(".jp-creds-SnippetWidget-copy").click()
    wait_for_clipboard(page, code, demo, "toolbar Copy to Clipboard")
    clear_clipboard(page)
    lens = view.locator(".jp-creds-SnippetView-copyLink")
    expect(lens).to_have_text("Copy")
    lens.click()
    wait_for_clipboard(page, code, demo, "code lens Copy")
    shot(page, "04b-python-snippet-tab", exact=True)


# --- 5. insert into a notebook and run ----------------------------------------------------------


@pytest.mark.timeout(240)
def test_insert_snippet_into_notebook_and_run_in_kernel(lab_page: Page, demo: Demo, shot: Shot):
    demo.sign_in(ANALYTICS_ID)
    code = demo.snippet(ANALYTICS_ID, "python")
    page = lab_page
    notebook = new_notebook(page, "Python 3 (ipykernel)")
    open_panel(page)

    context_menu(page, ANALYTICS_ID, "Insert Python Snippet")
    expect(cells(notebook)).to_have_count(2)
    inserted = cells(notebook).nth(1)
    expect(inserted).to_have_class(re.compile(r"\bjp-mod-active\b"))
    expect(inserted).to_have_class(re.compile(r"\bjp-CodeCell\b"))
    shown = code_lines(inserted.locator(".jp-Cell-inputArea"))
    assert shown == code.rstrip("\n"), demo.why(f"cell:\n{shown!r}\nsnippet:\n{code!r}")
    shot(page, "05a-snippet-inserted", exact=True)

    # a cell below that asks the provider's userinfo who the token belongs to
    userinfo = (
        "import json, urllib.request\n"
        f'request = urllib.request.Request("{demo.issuer}/userinfo",\n'
        '    headers={"Authorization": "Bearer " + access_token})\n'
        'print(json.load(urllib.request.urlopen(request))["sub"])'
    )
    inserted.locator(".jp-InputPrompt").click()  # command mode on the snippet cell
    page.keyboard.press("b")
    expect(cells(notebook)).to_have_count(3)
    page.keyboard.press("Enter")
    editor = cells(notebook).nth(2).locator(".cm-content")
    expect(editor).to_be_focused()
    page.keyboard.insert_text(userinfo)
    assert code_lines(cells(notebook).nth(2).locator(".jp-Cell-inputArea")) == userinfo

    # run both cells with Shift+Enter
    inserted.locator(".jp-InputPrompt").click()
    page.keyboard.press("Shift+Enter")
    page.keyboard.press("Shift+Enter")
    output = cells(notebook).nth(2).locator(".jp-OutputArea-output")
    expect(output).to_have_text("demo-user", timeout=60_000)
    expect(inserted.locator(".jp-InputPrompt")).to_have_text(re.compile(r"\[1\]"))
    expect(notebook.locator('[data-mime-type="application/vnd.jupyter.stderr"]')).to_have_count(0)
    shot(page, "05b-notebook-output", exact=True)

    # the token itself shows nowhere
    token = demo.access_token(ANALYTICS_ID)
    assert token not in page.content(), "the access token is on the page"
    outputs = notebook.locator(".jp-OutputArea").all_inner_texts()
    assert all(token not in text for text in outputs)


# --- 6. sign out --------------------------------------------------------------------------------


def test_sign_out_and_sign_in_again_from_context_menu(
    lab_page: Page, browser_context: BrowserContext, demo: Demo, shot: Shot
):
    demo.sign_in(ANALYTICS_ID)
    page = lab_page
    open_panel(page)
    analytics = row(page, ANALYTICS_ID)
    expect(analytics).to_have_attribute("data-status", "authenticated")
    page.evaluate("window.__sameDocument = true")

    context_menu(page, ANALYTICS_ID, "Sign Out")
    # at once: the request's answer, not the next poll
    expect(analytics).to_have_attribute("data-status", "not_signed_in", timeout=3_000)
    status_icon = analytics.locator(".jp-creds-Row-status")
    expect(status_icon).to_have_attribute("data-icon", "lock")
    expect(status_icon).to_have_attribute("aria-label", "Not signed in")
    expect(analytics.locator(".jp-creds-Row-signIn")).to_be_visible()
    assert demo.integration(ANALYTICS_ID)["status"] == "not_signed_in"
    shot(page, "06a-signed-out", exact=True)

    # signed out: the menu offers Sign In and no snippets
    labels = open_context_menu(page, ANALYTICS_ID)
    assert labels == ["Sign In"], labels
    shot(page, "06b-context-menu-signed-out", exact=True)
    page.keyboard.press("Escape")
    expect(page.locator(".lm-Menu")).to_have_count(0)
    # a configuration error: nothing to do
    assert open_context_menu(page, BROKEN_ID) == [], "menu items on a broken integration"
    page.keyboard.press("Escape")

    # Sign In from the context menu
    popup = sign_in_in_popup(
        browser_context,
        lambda: (open_context_menu(page, ANALYTICS_ID), menu_item(page, "Sign In").click()),
    )
    expect(popup.locator("h1")).to_have_text("Signed in to Demo Analytics")
    expect(analytics).to_have_attribute("data-status", "authenticated", timeout=5_000)
    assert page.evaluate("window.__sameDocument") is True, "the page reloaded"
    shot(page, "06c-signed-in-from-menu", exact=True)


# --- 7. palette ---------------------------------------------------------------------------------


@pytest.mark.timeout(180)
def test_palette_commands(lab_page: Page, demo: Demo, request_log: RequestLog, shot: Shot):
    demo.sign_in(ANALYTICS_ID)
    page = lab_page
    python = demo.snippet(ANALYTICS_ID, "python")
    r_code = demo.snippet(WAREHOUSE_ID, "r")

    # the four commands, in the "Credentials" category
    page.keyboard.press("Control+Shift+C")
    palette = page.locator(".jp-ModalCommandPalette")
    palette.locator(".lm-CommandPalette-input").fill("Credential")
    categories = {}
    for label in (
        "Refresh Available Credentials",
        "View Credential Code Snippet",
        "Copy Credential Code Snippet",
        "Insert Credential Code Snippet",
    ):
        item = palette_item(palette, label)
        expect(item).to_have_count(1)
        # the header above an item names its category
        categories[label] = item.evaluate(
            """item => {
                let e = item.previousElementSibling;
                while (e && !e.classList.contains('lm-CommandPalette-header')) {
                    e = e.previousElementSibling;
                }
                return e && e.firstChild.textContent;
            }"""
        )
    assert set(categories.values()) == {"Credentials"}, categories
    shot(page, "07a-palette", exact=True)
    page.keyboard.press("Escape")
    expect(palette).to_be_hidden()

    # Refresh: a request now (the panel is closed, the poll stands by)
    page.wait_for_timeout(300)
    before = request_log.integration_lists()
    run_palette(page, "Refresh Available Credentials")
    deadline = time.monotonic() + 5
    while request_log.integration_lists() == before and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    assert request_log.integration_lists() > before, demo.why("Refresh made no request")
    # ... and with the panel open too
    open_panel(page)
    page.wait_for_timeout(500)
    before = request_log.integration_lists()
    run_palette(page, "Refresh Available Credentials")
    page.wait_for_timeout(1_000)
    assert request_log.integration_lists() > before, demo.why("Refresh made no request")

    # View, no row selected: which integration, which language
    assert page.locator(f"{PANEL} .jp-creds-Tree-item.jp-mod-selected").count() == 0
    run_palette(page, "View Credential Code Snippet")
    answer_dialog(page, "Which integration?", "Demo Analytics")
    answer_dialog(page, "Which language?", "Python")
    tab = page.locator(".jp-creds-SnippetWidget:visible")
    expect(tab).to_be_visible()
    assert code_lines(tab.locator(".jp-creds-SnippetView")) == python
    shot(page, "07b-palette-view", exact=True)

    # Copy, no row selected: R for the warehouse
    clear_clipboard(page)
    run_palette(page, "Copy Credential Code Snippet")
    answer_dialog(page, "Which integration?", "Demo Warehouse (public PKCE client)")
    shot(page, "07c-palette-copy-language", exact=True)
    answer_dialog(page, "Which language?", "R")
    wait_for_clipboard(page, r_code, demo, "palette Copy")

    # Insert into a notebook (no kernel needed to insert): below the active cell, not at the end
    notebook = new_notebook(page, "No Kernel")
    cells(notebook).nth(0).locator(".jp-InputPrompt").click()
    page.keyboard.press("b")  # a second cell, then back to the first
    page.keyboard.press("Enter")
    page.keyboard.insert_text("# the last cell")
    page.keyboard.press("Escape")
    page.keyboard.press("k")
    expect(cells(notebook).nth(0)).to_have_class(re.compile(r"\bjp-mod-active\b"))
    run_palette(page, "Insert Credential Code Snippet")
    answer_dialog(page, "Which integration?", "Demo Analytics")
    answer_dialog(page, "Which language?", "Python")
    expect(cells(notebook)).to_have_count(3)
    sources = [code_lines(cells(notebook).nth(i).locator(".jp-Cell-inputArea")) for i in range(3)]
    assert sources == ["", python.rstrip("\n"), "# the last cell"], sources
    expect(cells(notebook).nth(1)).to_have_class(re.compile(r"\bjp-mod-active\b"))
    shot(page, "07d-palette-insert", exact=True)


# --- 8. polling ---------------------------------------------------------------------------------


@pytest.mark.timeout(180)
def test_polling_follows_interval_and_stands_by_when_hidden(
    lab_page: Page, demo: Demo, request_log: RequestLog
):
    page = lab_page
    demo.put_setting(CREDS_PLUGIN, {"refreshInterval": 1})
    try:
        open_lab(page, demo)  # the new setting is read at start-up
        open_panel(page)

        def count_over(seconds: float) -> int:
            start = time.monotonic()
            page.wait_for_timeout(seconds * 1000)
            return request_log.integration_lists(since=start)

        # visible: about once per second
        page.wait_for_timeout(1_500)
        start = time.monotonic()
        visible = count_over(6)
        times = [t for t, _, _ in request_log.matching("GET", "/api/creds/integrations", start)]
        gaps = sorted(b - a for a, b in itertools.pairwise(times))
        assert 4 <= visible <= 8, demo.why(f"{visible} requests in 6 s at a 1 s interval")
        assert gaps, times
        assert 0.5 <= gaps[len(gaps) // 2] <= 1.6, gaps  # the median gap

        # panel collapsed: nothing
        page.locator(SIDEBAR_TAB).click()
        expect(page.locator(PANEL)).to_be_hidden()
        page.wait_for_timeout(1_200)  # one may have been in flight
        collapsed = count_over(4)
        assert collapsed == 0, demo.why(f"{collapsed} requests with the panel collapsed")

        # shown again: at once, then once per second
        page.locator(SIDEBAR_TAB).click()
        expect(page.locator(PANEL)).to_be_visible()
        shown = count_over(3)
        assert shown >= 2, demo.why(f"{shown} requests in 3 s after showing the panel")

        # the page hidden (headless pages are always visible: fake it)
        page.evaluate(
            """() => {
                Object.defineProperty(document, 'visibilityState',
                                      {value: 'hidden', configurable: true});
                Object.defineProperty(document, 'hidden', {value: true, configurable: true});
                document.dispatchEvent(new Event('visibilitychange'));
            }"""
        )
        page.wait_for_timeout(1_200)
        hidden = count_over(4)
        assert hidden == 0, demo.why(f"{hidden} requests while the page was hidden")

        # visible again: polling resumes
        page.evaluate(
            """() => {
                Object.defineProperty(document, 'visibilityState',
                                      {value: 'visible', configurable: true});
                Object.defineProperty(document, 'hidden', {value: false, configurable: true});
                document.dispatchEvent(new Event('visibilitychange'));
            }"""
        )
        resumed = count_over(3)
        assert resumed >= 2, demo.why(f"{resumed} requests in 3 s after the page came back")
    finally:
        demo.put_setting(CREDS_PLUGIN, {})


def is_list_request(url: str) -> bool:
    return urlsplit(url).path.endswith("/api/creds/integrations")  # any cache-busting query


def test_unreachable_server_shows_a_state_not_a_stale_list(lab_page: Page, demo: Demo, shot: Shot):
    page = lab_page
    panel = open_panel(page)
    expect(panel.locator(".jp-creds-Tree [data-integration-id]")).to_have_count(3)
    page.route(is_list_request, lambda route: route.abort("connectionrefused"))
    panel.locator(".jp-creds-Panel-refresh").click()
    message = panel.locator('[data-connection="unreachable"]')
    expect(message).to_be_visible()
    expect(message).to_contain_text("Can't reach the Jupyter server")
    expect(panel.locator(".jp-creds-Tree")).to_have_count(0)
    shot(page, "08-unreachable", exact=True)
    page.unroute(is_list_request)
    panel.locator(".jp-creds-Panel-refresh").click()
    expect(panel.locator(".jp-creds-Tree [data-integration-id]")).to_have_count(3, timeout=15_000)


# --- 9. installed as users get it ---------------------------------------------------------------


def test_labextension_enabled_and_browser_check(tmp_path: Path):
    listed = subprocess.run(
        [sys.executable, "-m", "jupyter", "labextension", "list"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    text = ANSI.sub("", listed.stdout + listed.stderr)
    assert listed.returncode == 0, text
    assert re.search(r"^\s*jupyter-creds v\S+ enabled OK", text, re.M), text

    env = {
        **os.environ,
        "HOME": str(tmp_path),
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
        "JUPYTER_DATA_DIR": str(tmp_path / "data"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
    }
    command = [
        sys.executable,
        "-m",
        "jupyterlab.browser_check",
        "--no-browser-test",  # its own browser test downloads a browser
        f"--port={free_port()}",
        "--ServerApp.port_retries=0",
        "--LabApp.news_url=None",
    ]
    if os.geteuid() == 0:
        command.append("--allow-root")
    check = subprocess.run(
        command, capture_output=True, text=True, timeout=100, env=env, cwd=tmp_path
    )
    output = check.stdout + check.stderr
    assert check.returncode == 0, output[-4000:]
    assert "jupyter_creds | extension was successfully loaded" in output, output[-4000:]
    assert "Exiting normally" in output, output[-4000:]


# --- 10. screenshots: light and dark ------------------------------------------------------------


def widen_sidebar(page: Page, width: int = 420) -> None:
    """Drag the splitter right of the sidebar, as a person makes the panel wider."""
    panel_box = page.locator("#jp-left-stack").bounding_box()
    assert panel_box
    x = panel_box["x"] + panel_box["width"]
    y = panel_box["y"] + panel_box["height"] / 2
    page.mouse.move(x + 1, y)
    page.mouse.down()
    page.mouse.move(panel_box["x"] + width, y, steps=8)
    page.mouse.up()


def luminance(css_colour: str) -> float:
    r, g, b = (int(v) for v in re.findall(r"\d+", css_colour)[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


@pytest.mark.timeout(180)
def test_screenshots_light_and_dark(lab_page: Page, demo: Demo):
    demo.sign_in(ANALYTICS_ID)
    demo.sign_in(WAREHOUSE_ID)
    page = lab_page
    colours = {}
    try:
        for theme, name in (("JupyterLab Light", "light"), ("JupyterLab Dark", "dark")):
            demo.put_setting(THEMES_PLUGIN, {"theme": theme})
            open_lab(page, demo)
            expect(page.locator("body")).to_have_attribute(
                "data-jp-theme-light", "true" if name == "light" else "false"
            )
            panel = open_panel(page)
            widen_sidebar(page)
            row_line(page, ANALYTICS_ID).click()
            expect(row(page, ANALYTICS_ID)).to_have_attribute("aria-expanded", "true")
            expect(row(page, ANALYTICS_ID).locator('[data-detail="expires_at"]')).to_be_visible()
            page.mouse.move(900, 700)  # no hover highlight in the picture
            page.wait_for_timeout(300)  # let the theme's transitions settle
            colours[name] = panel.evaluate(
                """p => ({
                    background: getComputedStyle(p).backgroundColor,
                    text: getComputedStyle(p.querySelector('.jp-creds-Row-name')).color,
                })"""
            )
            box = page.locator("#jp-left-stack").bounding_box()
            assert box
            page.screenshot(
                path=str(screenshot_path(f"sidebar-{name}")),
                clip={"x": 0, "y": 0, "width": box["x"] + box["width"] + 2, "height": 420},
            )
            page.screenshot(path=str(screenshot_path(f"10-lab-{name}")))
    finally:
        demo.put_setting(THEMES_PLUGIN, {})

    light, dark = colours["light"], colours["dark"]
    assert luminance(light["background"]) > 200 > luminance(light["text"]), colours
    assert luminance(dark["background"]) < 80 < luminance(dark["text"]), colours
    for name in ("light", "dark"):
        assert screenshot_path(f"sidebar-{name}").stat().st_size > 5_000
