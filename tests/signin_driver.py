"""Drive the embedded provider's login and consent pages over HTTP, as a person would."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urljoin

import httpx2


class _FormParser(HTMLParser):
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


def parse_form(html: str) -> _FormParser:
    parser = _FormParser()
    parser.feed(html)
    assert parser.action is not None, f"no POST form on the page:\n{html[:500]}"
    return parser


async def approve(
    client: httpx2.AsyncClient,
    authorization_url: str,
    *,
    username: str = "demo",
    password: str = "demo",  # noqa: S107 (the demo account)
    decision: str = "approve",
) -> str:
    """Log in and answer the consent form. Returns the redirect URL (the callback, not fetched)."""
    url = authorization_url
    resp = await client.get(url)
    for _ in range(4):  # login page, consent page: bounded
        if resp.status_code in (302, 303):
            return urljoin(url, resp.headers["location"])
        assert resp.status_code == 200, (resp.status_code, resp.text[:300])
        form = parse_form(resp.text)
        target = urljoin(url, form.action or url)
        data = dict(form.fields)
        if "password" in data:
            data.update(username=username, password=password)
        else:
            assert ("decision", decision) in form.buttons, form.buttons
            data["decision"] = decision
        url = target
        resp = await client.post(target, data=data)
    raise AssertionError("the provider never redirected back")
