"""How integrations look to a person in a kernel: status words and icons, times, and the table of
``%credentials list``. Shared by the magic and the notebook panel.

Standard library only: the magic imports this module when it loads, and a kernel that never
shows the panel must not pay for ipywidgets. Everything here works on the kernel client's
integration dicts, which never hold a token or a secret.
"""

from __future__ import annotations

import time
from datetime import datetime
from html import escape
from typing import Any
from urllib.parse import quote

__all__ = [
    "STATUS_LABELS",
    "IntegrationTable",
    "SignInLink",
    "describe_age",
    "fetch_snippet",
    "format_expiry",
    "status_icon",
    "status_label",
]

STATUS_LABELS = {
    "authenticated": "Authenticated",
    "not_signed_in": "Not signed in",
    "config_error": "Configuration error",
}

# The sidebar's own drawings (labextension/src/icons.ts), so both views show the same icons.
_ICON_PATHS = {
    "authenticated": (
        "M11.58 10A5 5 0 1 0 11.58 14H14v3h3v-3h2v2h3v-6zM7 10a2 2 0 1 1 0 4a2 2 0 1 1 0-4z"
    ),
    "not_signed_in": (
        "M7 10V8a5 5 0 0 1 10 0v2h1a1 1 0 0 1 1 1v9a1 1 0 0 1-1 1H6a1 1 0 0 1-1-1v-9a1 1 0 0 1 "
        "1-1zm2 0h6V8a3 3 0 0 0-6 0zm2 4v4h2v-4z"
    ),
    "config_error": "M12 2 1 21h22zm-1 7v6h2V9zm0 8v2h2v-2z",
}
# Theme colours where JupyterLab defines them, plain ones elsewhere (nbviewer, VS Code).
_ICON_COLORS = {
    "authenticated": "var(--jp-success-color1, #388e3c)",
    "not_signed_in": "var(--jp-ui-font-color2, #616161)",
    "config_error": "var(--jp-warn-color0, #e65100)",
}


def status_label(status: str) -> str:
    """ "Authenticated", "Not signed in" or "Configuration error" (unknown codes as they are)."""
    return STATUS_LABELS.get(status, status)


def status_icon(status: str, description: str | None = None) -> str:
    """The status icon as inline SVG: the key, the lock or the warning sign.

    ``description`` (default: the status label) is its accessible name and tooltip.
    """
    path = _ICON_PATHS.get(status, _ICON_PATHS["config_error"])
    color = _ICON_COLORS.get(status, _ICON_COLORS["config_error"])
    label = escape(description or status_label(status))
    return (
        f'<svg class="jc-icon jc-icon-{escape(status)}" role="img" aria-label="{label}" '
        f'width="16" height="16" viewBox="0 0 24 24" style="fill: {color}; '
        f'vertical-align: text-bottom; flex: none"><title>{label}</title>'
        f'<path fill-rule="evenodd" d="{path}"/></svg>'
    )


def describe_age(seconds: float) -> str:
    """ "just now", "12 s ago", "3 min ago", "2 h ago" (widget.js says the same)."""
    seconds = max(0, int(seconds))
    if seconds < 1:
        return "just now"
    if seconds < 60:
        return f"{seconds} s ago"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    return f"{seconds // 3600} h ago"


def format_expiry(
    expires_at: float | None, *, now: float | None = None, relative: bool = True
) -> str:
    """When the current access token expires, in the kernel's local time.

    ``relative`` adds "(in 2 min)"; leave it out where the text stays on screen for long.
    An expired token of a signed-in integration is renewed by the server on next use.
    """
    if expires_at is None:
        return ""
    now = time.time() if now is None else now
    when = datetime.fromtimestamp(expires_at).astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
    left = expires_at - now
    if left <= 0:
        return f"{when} (expired; renewed on next use)"
    if not relative:
        return when
    if left < 60:
        return f"{when} (in {int(left)} s)"
    if left < 3600:
        return f"{when} (in {int(left // 60)} min)"
    return f"{when} (in {left / 3600:.1f} h)"


def fetch_snippet(client: Any, integration_id: str, language: str) -> dict[str, str]:
    """``GET integrations/{id}/snippet``: ``{"language", "code", "html"}``.

    Goes through the kernel client's request helper (its auth, errors and connection pool); the
    client has no public method for snippets yet.
    """
    path = f"integrations/{quote(integration_id, safe='')}/snippet"
    return client._request("GET", path, params={"language": language}, about=integration_id)


class IntegrationTable:
    """The integrations as a table: HTML in a notebook, aligned text in a terminal.

    Columns: name, status, id, account, expiry. A configuration error's reason is the status
    cell's tooltip in HTML and a note under the table in text.
    """

    COLUMNS = ("NAME", "STATUS", "ID", "ACCOUNT", "EXPIRES")

    def __init__(self, integrations: list[dict[str, Any]], *, now: float | None = None) -> None:
        self.integrations = list(integrations)
        self.now = time.time() if now is None else now

    def _cells(self, integration: dict[str, Any]) -> tuple[str, ...]:
        return (
            str(integration.get("name") or ""),
            status_label(str(integration.get("status") or "")),
            str(integration.get("id") or ""),
            str(integration.get("account") or ""),
            format_expiry(integration.get("expires_at"), now=self.now),
        )

    def __repr__(self) -> str:
        if not self.integrations:
            return "No integrations are configured on this Jupyter server."
        rows = [self.COLUMNS, *(self._cells(i) for i in self.integrations)]
        widths = [max(len(row[c]) for row in rows) for c in range(len(self.COLUMNS))]
        lines = [
            "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
        ]
        notes = [f"{i.get('name')}: {i['error']}" for i in self.integrations if i.get("error")]
        return "\n".join(lines + (["", *notes] if notes else []))

    def _repr_html_(self) -> str:
        if not self.integrations:
            return "<p>No integrations are configured on this Jupyter server.</p>"
        head = "".join(
            f"<th style='text-align: left'>{c}</th>"
            for c in ("Name", "Status", "ID", "Account", "Expires")
        )
        body = []
        for integration in self.integrations:
            name, status, guid, account, expires = (escape(c) for c in self._cells(integration))
            code = str(integration.get("status") or "")
            reason = integration.get("error")
            tip = f"{status_label(code)}: {reason}" if reason else status_label(code)
            title = escape(str(integration.get("display_name") or ""))
            body.append(
                "<tr>"
                f"<td style='text-align: left' title='{title}'>{name}</td>"
                f"<td style='text-align: left' title='{escape(tip)}'>"
                f"{status_icon(code, tip)} {status}</td>"
                f"<td style='text-align: left'><code>{guid}</code></td>"
                f"<td style='text-align: left'>{account}</td>"
                f"<td style='text-align: left'>{expires}</td>"
                "</tr>"
            )
        return (
            "<table class='jc-table tex2jax_ignore mathjax_ignore'>"
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
        )


class SignInLink:
    """What ``%credentials signin`` shows: a link that opens the provider's sign-in page.

    The URL carries a one-time ``state`` that expires in 10 minutes: not a secret, but it is
    shown only here, never logged.
    """

    def __init__(self, display_name: str, url: str, *, account: str | None = None) -> None:
        self.display_name = display_name
        self.url = url
        self.account = account

    def _note(self) -> str:
        again = (
            f" You are signed in as {self.account}: this replaces that sign-in."
            if self.account
            else ""
        )
        return f"The link works once, within 10 minutes.{again}"

    def __repr__(self) -> str:
        return (
            f"Open this link in your browser to sign in to {self.display_name}. "
            f"{self._note()}\n{self.url}"
        )

    def _repr_html_(self) -> str:
        # noreferrer: the provider must not learn the notebook's URL (it may hold a Jupyter token).
        return (
            "<div class='jc-signin-link tex2jax_ignore mathjax_ignore'>"
            f"<a href='{escape(self.url, quote=True)}' target='_blank' rel='noopener noreferrer'>"
            f"Sign in to {escape(self.display_name)}</a> "
            f"<span>opens the provider's sign-in page in a new tab. {escape(self._note())} "
            "Panels shown with <code>%credentials</code> update when you are done.</span></div>"
        )
