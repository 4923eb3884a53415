"""Reading the provider's login and consent forms, for scripts that sign in as a person would.

The embedded provider's pages are one ``<form method="post">`` each (DESIGN.md); the benchmark and
the tests fill them with plain HTTP instead of a browser.
"""

from __future__ import annotations

from html.parser import HTMLParser


class PostForm(HTMLParser):
    """The first POST form of a page: its action, its inputs, its named buttons."""

    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.fields: dict[str, str] = {}
        self.buttons: list[tuple[str, str]] = []
        self._in_form = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and a.get("method", "").lower() == "post" and self.action is None:
            self._in_form = True
            self.action = a.get("action", "")
        elif self._in_form and tag == "input" and a.get("name"):
            self.fields[a["name"]] = a.get("value", "")
        elif self._in_form and tag == "button" and a.get("name"):
            self.buttons.append((a["name"], a.get("value", "")))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._in_form = False


def parse_form(html: str) -> PostForm:
    """The page's POST form; ``action`` stays None when the page has none."""
    form = PostForm()
    form.feed(html)
    return form
