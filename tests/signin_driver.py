"""Drive the embedded provider's login and consent pages over HTTP, as a person would."""

from __future__ import annotations

from urllib.parse import urljoin

import httpx2

from jupyter_creds.provider.forms import PostForm
from jupyter_creds.provider.forms import parse_form as _parse_form


def parse_form(html: str) -> PostForm:
    form = _parse_form(html)
    assert form.action is not None, f"no POST form on the page:\n{html[:500]}"
    return form


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
