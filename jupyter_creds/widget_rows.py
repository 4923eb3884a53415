"""One integration in the notebook panel: its status line, details and snippet (core ipywidgets).

A row holds the integration dict of the kernel client (no token, no secret ever) and is updated
in place on each refresh, so that what a person opened stays open. Details and the snippet are
built on first use. Copy, Insert and the sign-in window are done by the panel's browser helper
(widget.js), which recognises the buttons by their CSS classes: ``jc-signin``, ``jc-copy`` and
``jc-insert`` inside a ``jc-copy-scope`` that holds one ``jc-copy-value`` element.
"""

from __future__ import annotations

from html import escape
from typing import Any, Protocol

import ipywidgets as widgets

from .errors import CredentialsError
from .views import format_expiry, status_icon, status_label

__all__ = ["IntegrationRow", "RowActions"]

# MathJax (JupyterLab typesets HTML widgets) must leave names and code alone: R code is full of $.
NO_MATH = "tex2jax_ignore mathjax_ignore"
DASH = "\N{EM DASH}"


def html(content: str) -> str:
    return f'<div class="{NO_MATH}">{content}</div>'


def shown(visible: bool) -> str:
    return "" if visible else "none"


class RowActions(Protocol):
    """What a row asks of its panel."""

    def sign_in(self, integration: dict[str, Any]) -> None: ...

    def sign_out(self, integration: dict[str, Any]) -> None: ...

    def snippet(self, integration_id: str, language: str) -> dict[str, str]: ...


def _button(description: str, icon: str, tooltip: str, *classes: str) -> widgets.Button:
    button = widgets.Button(
        description=description,
        icon=icon,
        tooltip=tooltip,
        # Buttons keep their size; long names and ids give way (ellipsis, see widget.css).
        layout=widgets.Layout(width="auto", flex="0 0 auto"),
    )
    for name in classes:
        button.add_class(name)
    return button


class DetailLine(widgets.HBox):
    """ "Client ID  demo-analytics  [copy]"."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.value_html = widgets.HTML(layout=widgets.Layout(flex="1 1 auto", min_width="0"))
        self.copy_button = _button("", "copy", f"Copy {label}", "jc-copy")
        self.copy_button.layout.width = "32px"
        super().__init__(
            [self.value_html, self.copy_button], layout=widgets.Layout(align_items="center")
        )
        self.add_class("jc-detail")
        self.add_class("jc-copy-scope")

    def set(self, value: str | None) -> None:
        text = (
            f'<code class="jc-copy-value">{escape(value)}</code>'
            if value
            else f'<span class="jc-empty">{DASH}</span>'
        )
        self.value_html.value = html(
            f'<div class="jc-detail-line"><span class="jc-label">{escape(self.label)}</span>'
            f"{text}</div>"
        )
        self.copy_button.layout.visibility = "visible" if value else "hidden"


class SnippetView(widgets.VBox):
    """The Python or R code that gets the integration's token, highlighted, with Copy and Insert."""

    def __init__(self, integration_id: str, actions: RowActions) -> None:
        self._id = integration_id
        self._actions = actions
        self._cache: dict[str, dict[str, str]] = {}
        self.language = widgets.ToggleButtons(
            options=[("Python", "python"), ("R", "r")],
            value="python",
            tooltips=["The Python snippet", "The R snippet"],
            style={"button_width": "auto"},
        )
        self.copy_button = _button("Copy", "copy", "Copy the snippet", "jc-copy")
        self.insert_button = _button(
            "Insert into cell", "plus", "Insert the snippet into a new cell below", "jc-insert"
        )
        self.code = widgets.HTML(layout=widgets.Layout(width="100%"))
        toolbar = widgets.HBox(
            [self.language, self.copy_button, self.insert_button],
            layout=widgets.Layout(align_items="center", flex_flow="row wrap"),
        )
        super().__init__([toolbar, self.code], layout=widgets.Layout(margin="4px 0 4px 36px"))
        self.add_class("jc-snippet")
        self.add_class("jc-copy-scope")
        self.language.observe(lambda _change: self.load(), names="value")

    def load(self) -> None:
        language = self.language.value
        try:
            if language not in self._cache:
                self._cache[language] = self._actions.snippet(self._id, language)
            snippet = self._cache[language]
        except CredentialsError as exc:
            self.code.value = html(f'<span class="jc-error">{escape(str(exc))}</span>')
            self.copy_button.disabled = self.insert_button.disabled = True
            return
        # Pygments HTML from our server (the code is escaped); its text is exactly the code.
        self.code.value = html(
            f'<div class="jc-copy-value jc-code" data-language="{escape(language)}">'
            f"{snippet['html']}</div>"
        )
        self.copy_button.disabled = self.insert_button.disabled = False


class IntegrationRow(widgets.VBox):
    """An integration: status icon, name, Sign In / Sign Out, details, snippet."""

    def __init__(self, integration: dict[str, Any], actions: RowActions) -> None:
        self.integration = integration
        self._actions = actions
        self.toggle = _button("", "caret-right", "Show details", "jc-toggle")
        self.toggle.layout.width = "32px"
        self.title = widgets.HTML(
            layout=widgets.Layout(flex="1 1 auto", min_width="0", overflow="hidden")
        )
        self.sign_in_button = _button("Sign In", "sign-in", "", "jc-signin")
        self.sign_out_button = _button("Sign Out", "sign-out", "", "jc-signout")
        self.snippet_button = _button("Snippet", "code", "View the code that gets a token")
        self.header = widgets.HBox(
            [
                self.toggle,
                self.title,
                self.sign_in_button,
                self.sign_out_button,
                self.snippet_button,
            ],
            layout=widgets.Layout(align_items="center"),
        )
        self.details: widgets.VBox | None = None
        self.lines: dict[str, DetailLine] = {}
        self.snippet_view: SnippetView | None = None
        self.expanded = False
        self.snippet_visible = False
        self._status = ""
        super().__init__([self.header])
        self.add_class("jc-row")
        self.add_class(f"jc-id-{integration['id']}")
        self.toggle.on_click(lambda _b: self.set_expanded(not self.expanded))
        self.sign_in_button.on_click(lambda _b: self._actions.sign_in(self.integration))
        self.sign_out_button.on_click(lambda _b: self._actions.sign_out(self.integration))
        self.snippet_button.on_click(lambda _b: self.show_snippet(not self.snippet_visible))
        self.update(integration)

    @property
    def integration_id(self) -> str:
        return str(self.integration["id"])

    @property
    def name(self) -> str:
        return str(self.integration.get("display_name") or self.integration.get("name"))

    def update(self, integration: dict[str, Any]) -> None:
        """Show the server's latest answer for this integration."""
        self.integration = integration
        status = str(integration.get("status") or "")
        if status != self._status:
            if self._status:
                self.remove_class(f"jc-status-{self._status}")
            self.add_class(f"jc-status-{status}")
            self._status = status
        reason = integration.get("error")
        label = status_label(status)
        tooltip = f"{label}: {reason}" if reason else label
        if status == "authenticated":
            who = integration.get("account")
            description = self.integration_id + (f" \N{MIDDLE DOT} {who}" if who else "")
        else:
            description = label
        self.title.value = html(
            f'<span class="jc-title" title="{escape(tooltip)}">'
            f"{status_icon(status, tooltip)} "
            f'<span class="jc-name">{escape(self.name)}</span> '
            f'<span class="jc-description">{escape(description)}</span></span>'
        )
        self.title.tooltip = tooltip
        self.sign_in_button.layout.display = shown(status != "authenticated")
        self.sign_in_button.disabled = status == "config_error"
        self.sign_in_button.tooltip = (
            f"Can't sign in: {reason}" if status == "config_error" else f"Sign in to {self.name}"
        )
        self.sign_out_button.layout.display = shown(status == "authenticated")
        self.sign_out_button.tooltip = f"Sign out of {self.name}"
        if self.details is not None:
            self._fill_details()

    def set_expanded(self, expanded: bool) -> None:
        if expanded and self.details is None:
            self._build_details()
        self.expanded = expanded
        self.toggle.icon = "caret-down" if expanded else "caret-right"
        self.toggle.tooltip = "Hide details" if expanded else "Show details"
        self._arrange()

    def show_snippet(self, visible: bool = True) -> None:
        if visible and self.snippet_view is None:
            self.snippet_view = SnippetView(self.integration_id, self._actions)
            self.snippet_view.load()
        self.snippet_visible = visible
        self.snippet_button.tooltip = (
            "Hide the snippet" if visible else "View the code that gets a token"
        )
        self._arrange()

    def _arrange(self) -> None:
        children: list[widgets.Widget] = [self.header]
        if self.expanded and self.details is not None:
            children.append(self.details)
        if self.snippet_visible and self.snippet_view is not None:
            children.append(self.snippet_view)
        if tuple(children) != self.children:
            self.children = tuple(children)

    FIELDS = (
        ("id", "Integration ID"),
        ("issuer", "Issuer"),
        ("client_id", "Client ID"),
        ("scopes", "Scopes"),
        ("auth_url", "Auth URL"),
        ("token_url", "Token URL"),
        ("account", "Account"),
        ("expires_at", "Expires"),
        ("error", "Error"),
    )

    def _build_details(self) -> None:
        self.lines = {key: DetailLine(label) for key, label in self.FIELDS}
        self.details = widgets.VBox(
            list(self.lines.values()), layout=widgets.Layout(margin="0 0 0 36px")
        )
        self.details.add_class("jc-details")
        self._fill_details()

    def _fill_details(self) -> None:
        i = self.integration
        values = {
            "id": i.get("id"),
            "issuer": i.get("issuer"),
            "client_id": i.get("client_id"),
            "scopes": " ".join(i.get("scopes") or []),
            "auth_url": i.get("auth_url"),
            "token_url": i.get("token_url"),
            "account": i.get("account"),
            # No "in N min" here: the text stays on screen between refreshes.
            "expires_at": format_expiry(i.get("expires_at"), relative=False),
            "error": i.get("error"),
        }
        for key, line in self.lines.items():
            line.set(str(values[key]) if values[key] else None)
        self.lines["error"].layout.display = shown(bool(values["error"]))

    def descendants(self) -> list[widgets.Widget]:
        """Every widget this row created, for closing them with the panel."""
        found: list[widgets.Widget] = []
        for w in (self.header, self.details, self.snippet_view):
            if w is not None:
                found.extend(_tree(w))
        return found


def _tree(widget: widgets.Widget) -> list[widgets.Widget]:
    found = [widget]
    for child in getattr(widget, "children", ()):
        found.extend(_tree(child))
    return found
