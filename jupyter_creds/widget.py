"""The Available Credentials panel for notebooks: ``%credentials``, or ``CredentialsPanel()``.

The panel is made of core ipywidgets (rows in ``widget_rows``) and runs in the kernel: it asks the
Jupyter server through the kernel client, exactly like user code. One small anywidget, the
:class:`BrowserHelper`, does what only the browser can (``widget.js``):

- it asks the kernel to refresh every ``interval`` seconds while the panel is on screen and the
  browser tab is visible, never while hidden, and once at once when it becomes visible again;
- it opens the provider's window inside the click on Sign In (browsers block ``window.open``
  after a round trip to the kernel), then sends it to the URL the kernel gets from the server;
- it writes the clipboard and dispatches the ``jupyter-creds:insert-snippet`` event inside the
  click, falling back to the clipboard when no JupyterLab extension answers;
- it hears sign-in completion (``BroadcastChannel("jupyter-creds")`` and messages from the
  provider's window) and asks the kernel to refresh at once.

Refreshes and clicks are handled by the kernel: while a cell is running they wait until it ends.

Nothing secret is ever in a widget trait (traits can be saved in the notebook): the panel never
asks for credentials, and the server's integration answers hold no token or secret. The sign-in
URL travels to the browser in a custom message, not in a trait.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anywidget
import ipywidgets as widgets
import traitlets

from .errors import CredentialsError
from .views import IntegrationTable, describe_age, fetch_snippet
from .widget_rows import NO_MATH, IntegrationRow

if TYPE_CHECKING:
    from .client import Client

__all__ = ["BrowserHelper", "CredentialsPanel"]

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
DEFAULT_INTERVAL = 30.0
# Ticks closer together than this (several views, several browser tabs) share one refresh.
MIN_TICK_GAP = 1.0


class BrowserHelper(anywidget.AnyWidget):
    """The panel's browser side (``widget.js``). Its traits hold no secret.

    Messages from the browser: ``tick``, ``signin-done``, ``signin-closed``, ``copied`` and
    ``inserted``. To the browser: ``refreshed``, ``signin-url``, ``signin-failed`` and ``copy``.
    """

    _esm = HERE / "widget.js"
    _css = HERE / "widget.css"

    interval = traitlets.Float(
        DEFAULT_INTERVAL, help="seconds between refreshes while on screen; 0 turns them off"
    ).tag(sync=True)
    updated_at = traitlets.Float(
        0.0, help="when the list was last fetched (epoch seconds, the kernel's clock)"
    ).tag(sync=True)

    @traitlets.validate("interval")
    def _check_interval(self, proposal: dict[str, Any]) -> float:
        return check_interval(proposal["value"])


def check_interval(seconds: float) -> float:
    """The refresh interval as a float; ``ValueError`` unless 0 (off) or 1 s to a day."""
    value = float(seconds)
    if not (value == 0 or 1 <= value <= 24 * 3600):
        raise ValueError(
            f"interval must be 0 (no automatic refresh) or 1 to 86400 seconds, got {value:g}"
        )
    return value


class CredentialsPanel(widgets.VBox):
    """The integrations, their status, Sign In / Sign Out, details and code snippets.

    Args:
        client: the kernel client to use (default: a new :class:`~jupyter_creds.Client`).
        interval: seconds between automatic refreshes while the panel is on screen (default 30;
            0 turns them off). Settable later: ``panel.interval = 10``.

    Automatic refreshes are asked for by the browser and done by the kernel, so they wait while
    a cell is running. Refresh and sign-in completion refresh at once.
    """

    def __init__(
        self, client: Client | None = None, *, interval: float = DEFAULT_INTERVAL, **kwargs: Any
    ) -> None:
        interval = check_interval(interval)  # before any widget exists
        if client is None:
            from .client import Client

            client = Client()
        self.client = client
        self.rows: dict[str, IntegrationRow] = {}
        self.updated_at: float | None = None
        self._clock: Callable[[], float] = time.time
        self._last_attempt = 0.0
        self._refresh_failed = False
        self.helper = BrowserHelper(interval=interval)
        self.helper.on_msg(self._on_browser_message)
        self.rows_box = widgets.VBox()
        self.rows_box.add_class("jc-rows")
        self.empty_html = widgets.HTML("No integrations are configured on this Jupyter server.")
        self.updated_html = widgets.HTML(layout=widgets.Layout(margin="0 8px 0 auto"))
        self.refresh_button = widgets.Button(
            description="Refresh",
            icon="refresh",
            tooltip="Refresh the list now",
            layout=widgets.Layout(width="auto"),
        )
        self.refresh_button.on_click(lambda _b: self.refresh())
        title = widgets.HTML(
            f'<span class="{NO_MATH} jc-heading"><strong>Available Credentials</strong></span>'
        )
        self.header = widgets.HBox(
            [title, self.updated_html, self.refresh_button],
            layout=widgets.Layout(align_items="center"),
        )
        self.status_html = widgets.HTML()
        self.status_html.add_class("jc-status-line")
        super().__init__(
            [self.header, self.rows_box, self.status_html, self.helper],
            **kwargs,
        )
        self.add_class("jupyter-creds-panel")
        self.refresh()

    # -- settings ---------------------------------------------------------------------------------
    @property
    def interval(self) -> float:
        return self.helper.interval

    @interval.setter
    def interval(self, seconds: float) -> None:
        self.helper.interval = seconds

    # -- refresh ----------------------------------------------------------------------------------
    def refresh(self) -> bool:
        """Ask the server for the integrations and update the rows; False when that failed (the
        status line says why, and the rows keep their last known state)."""
        self._last_attempt = self._clock()
        try:
            integrations = self.client.oauth.integrations.find()
        except CredentialsError as exc:
            self.show(f"Couldn't refresh: {exc}", error=True)
            self._refresh_failed = True
            return False
        self._show_integrations(integrations)
        self.updated_at = self._clock()
        self.helper.updated_at = self.updated_at
        self._show_updated()
        if self._refresh_failed:
            self._refresh_failed = False
            self.show("")
        return True

    def _show_integrations(self, integrations: list[dict[str, Any]]) -> None:
        seen = []
        for integration in integrations:
            row = self.rows.get(integration["id"])
            if row is None:
                row = self.rows[integration["id"]] = IntegrationRow(integration, self)
            else:
                row.update(integration)
            seen.append(row)
        for gone in set(self.rows) - {r.integration_id for r in seen}:
            row = self.rows.pop(gone)
            for w in [row, *row.descendants()]:
                w.close()
        children = tuple(seen) or (self.empty_html,)
        if children != self.rows_box.children:
            self.rows_box.children = children

    def updated_text(self) -> str:
        """ "Updated 12 s ago" (the browser keeps the text current between refreshes)."""
        if self.updated_at is None:
            return "Not updated yet"
        return f"Updated {describe_age(self._clock() - self.updated_at)}"

    def _show_updated(self) -> None:
        at = f"{self.updated_at:.3f}" if self.updated_at is not None else ""
        self.updated_html.value = (
            f'<span class="jc-updated" data-updated-at="{at}">{self.updated_text()}</span>'
        )

    def show(self, message: str, *, error: bool = False) -> None:
        """Put ``message`` (plain text) on the status line; an empty message clears it."""
        if not message:
            self.status_html.value = ""
            self._refresh_failed = False
            return
        self._refresh_failed = False
        kind, role = ("jc-error", "alert") if error else ("jc-info", "status")
        self.status_html.value = (
            f'<span class="{NO_MATH} {kind}" role="{role}">{escape(message)}</span>'
        )

    @property
    def status_text(self) -> str:
        """The status line as plain text (for tests and for the terminal)."""
        import re
        from html import unescape

        return unescape(re.sub(r"<[^>]+>", "", self.status_html.value))

    # -- what the rows ask (RowActions) -----------------------------------------------------------
    def sign_in(self, integration: dict[str, Any]) -> None:
        """Ask the server for the authorization URL and send it to the window the browser
        opened on the click."""
        guid, name = integration["id"], _name(integration)
        try:
            url = self.client.oauth.sign_in(guid)
        except CredentialsError as exc:
            self.helper.send({"type": "signin-failed", "integration_id": guid})
            self.show(f"Couldn't start signing in to {name}: {exc}", error=True)
            return
        self.helper.send({"type": "signin-url", "integration_id": guid, "url": url, "name": name})
        self.show(f"Finish signing in to {name} in the window that opened.")

    def sign_out(self, integration: dict[str, Any]) -> None:
        name = _name(integration)
        try:
            self.client.oauth.sign_out(integration["id"])
        except CredentialsError as exc:
            self.show(f"Couldn't sign out of {name}: {exc}", error=True)
            return
        self.refresh()
        self.show(f"Signed out of {name}.")

    def snippet(self, integration_id: str, language: str) -> dict[str, str]:
        return fetch_snippet(self.client, integration_id, language)

    # -- messages from the browser ----------------------------------------------------------------
    def _on_browser_message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if not isinstance(content, dict):
            return
        try:
            self.handle_browser_message(content)
        except Exception:  # a bug here must not break the comm; the log keeps it
            log.exception("jupyter_creds panel: message %r failed", content.get("type"))
            self.show("Something went wrong in the panel; see the kernel's log.", error=True)

    def handle_browser_message(self, content: dict[str, Any]) -> None:
        """Act on one message of ``widget.js`` (see :class:`BrowserHelper`)."""
        kind = content.get("type")
        if kind == "tick":
            if self._clock() - self._last_attempt >= MIN_TICK_GAP:
                self.refresh()
            self.helper.send({"type": "refreshed"})
        elif kind == "signin-done":
            self._signin_done(content)
        elif kind == "signin-closed":
            self.refresh()
            row = self.rows.get(str(content.get("integration_id")))
            if row is not None and row.integration.get("status") != "authenticated":
                self.show(f"The sign-in window for {row.name} was closed before signing in.")
        elif kind == "copied":
            what = str(content.get("what") or "the value")
            if content.get("ok"):
                self.show(f"Copied {what} to the clipboard.")
            else:
                self.show(
                    f"Couldn't copy {what}: {content.get('error') or 'unknown error'}", error=True
                )
        elif kind == "inserted":
            self._inserted(content)

    def _signin_done(self, content: dict[str, Any]) -> None:
        self.refresh()
        row = self.rows.get(str(content.get("integration_id")))
        name = row.name if row is not None else "the integration"
        if content.get("ok"):
            account = row.integration.get("account") if row is not None else None
            self.show(f"Signed in to {name}" + (f" as {account}." if account else "."))
        else:
            reason = str(content.get("error") or "the provider did not say why")
            self.show(f"Signing in to {name} did not complete: {reason}", error=True)

    def _inserted(self, content: dict[str, Any]) -> None:
        how = content.get("how")
        language = "R" if content.get("language") == "r" else "Python"
        if how == "cell":
            self.show(f"Inserted the {language} snippet into a new cell.")
        elif how == "clipboard":
            why = content.get("error") or "no Jupyter extension answered"
            self.show(f"Copied to clipboard instead: {why}.")
        else:
            why = content.get("error") or "unknown error"
            self.show(f"Couldn't insert or copy the {language} snippet: {why}", error=True)

    # -- kernel-initiated browser actions ---------------------------------------------------------
    def copy_to_clipboard(self, text: str, what: str = "the text") -> None:
        """Ask the browser to put ``text`` on the clipboard (browsers may refuse when no click
        happened just before)."""
        self.helper.send({"type": "copy", "text": text, "what": what})

    # -- widget plumbing --------------------------------------------------------------------------
    def close(self) -> None:
        """Close the panel and every widget it created."""
        # Also runs from Widget.__del__ when __init__ failed half-way: look before touching.
        for row in self.__dict__.get("rows", {}).values():
            for w in [row, *row.descendants()]:
                w.close()
        self.__dict__.get("rows", {}).clear()
        header = self.__dict__.get("header")
        parts = [*(header.children if header else ()), header]
        names = ("rows_box", "empty_html", "status_html", "helper")
        parts += [self.__dict__.get(n) for n in names]
        for w in parts:
            if w is not None:
                w.close()
        super().close()

    def __repr__(self) -> str:
        return f"CredentialsPanel({len(self.rows)} integrations, {self.updated_text().lower()})"

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any] | None:
        bundle = super()._repr_mimebundle_(**kwargs)
        if bundle is not None:
            # Terminals and exports show the table instead of "CredentialsPanel(...)".
            rows = [row.integration for row in self.rows.values()]
            bundle["text/plain"] = repr(IntegrationTable(rows))
        return bundle


def _name(integration: dict[str, Any]) -> str:
    return str(integration.get("display_name") or integration.get("name") or integration["id"])
