"""The callback page a person sees when the provider sends them back.

Self-contained (no third-party assets), strict CSP with a per-page nonce, all dynamic text escaped.
Its script tells the Jupyter tab(s) how the sign-in ended (DESIGN.md's message) and closes itself.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from html import escape

CHANNEL = "jupyter-creds"
MESSAGE_TYPE = "jupyter-creds:signin"

_SCRIPT = """
(function () {
  var msg = JSON.parse(document.getElementById("jupyter-creds-result").textContent);
  try {
    var channel = new BroadcastChannel(%(channel)s);
    channel.postMessage(msg);
    channel.close();
  } catch (e) {}
  try {
    if (window.opener && window.opener.location.origin === location.origin) {
      window.opener.postMessage(msg, location.origin);
    }
  } catch (e) {}
  if (msg.ok && window.opener) {
    setTimeout(function () { window.close(); }, 1500);
  }
})();
"""

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 3em auto; max-width: 36em; padding: 0 1em;
       color: #1f2328; background: #fff; line-height: 1.5; }
h1 { font-size: 1.4em; }
.ok { color: #1a7f37; } .failed { color: #b42318; }
@media (prefers-color-scheme: dark) { body { color: #e6edf3; background: #0d1117; }
  .ok { color: #3fb950; } .failed { color: #f85149; } }
"""


@dataclass(frozen=True)
class Page:
    html: str
    csp: str


def _page(title: str, body: str, message: dict) -> Page:
    nonce = secrets.token_urlsafe(16)
    data = json.dumps(message).replace("<", "\\u003c").replace(">", "\\u003e")
    script = _SCRIPT % {"channel": json.dumps(CHANNEL)}
    html = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{escape(title)}</title>
<style nonce="{nonce}">{_STYLE}</style>
</head><body>
{body}
<script type="application/json" id="jupyter-creds-result">{data}</script>
<script nonce="{nonce}">{script}</script>
</body></html>"""
    csp = (
        "default-src 'none'; "
        f"script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
    return Page(html=html, csp=csp)


def signin_succeeded(display_name: str, account: str | None, integration_id: str) -> Page:
    who = f" as <strong>{escape(account)}</strong>" if account else ""
    body = (
        f'<h1 class="ok">Signed in to {escape(display_name)}</h1>'
        f"<p>You are signed in{who}. Your notebooks can now get access tokens for "
        f"{escape(display_name)}.</p><p>You can close this window and go back to Jupyter.</p>"
    )
    message = {"type": MESSAGE_TYPE, "integration_id": integration_id, "ok": True, "error": None}
    return _page(f"Signed in to {display_name}", body, message)


def signin_failed(reason: str, *, integration_id: str | None) -> Page:
    body = (
        '<h1 class="failed">Sign-in did not complete</h1>'
        f'<p id="reason">{escape(reason)}</p>'
        "<p>Nothing was stored. You can close this window and try again from Jupyter.</p>"
    )
    message = {"type": MESSAGE_TYPE, "integration_id": integration_id, "ok": False, "error": reason}
    return _page("Sign-in did not complete", body, message)
