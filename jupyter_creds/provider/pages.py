"""HTML pages of the embedded provider: login, consent, errors.

Scripts and tests drive these pages as a person would, so each page has at most ONE
``<form method="post">`` whose action is the page's own URL; keep that shape stable.
Every dynamic value goes through :func:`html.escape`. No scripts, no third-party assets.
"""

from __future__ import annotations

from html import escape
from urllib.parse import urlsplit

TITLE = "Demo sign-in (jupyter_creds)"

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;background:#f4f5f7;color:#1d1d1f;
margin:0;padding:3rem 1rem}
main{max-width:26rem;margin:0 auto;background:#fff;border:1px solid #d8dbe0;border-radius:8px;
padding:1.5rem 2rem;box-shadow:0 1px 3px rgba(0,0,0,.06)}
h1{font-size:1.25rem;margin:0 0 1rem}
p{line-height:1.45}
label{display:block;margin:.75rem 0 .25rem;font-weight:600}
input{width:100%;box-sizing:border-box;padding:.5rem;border:1px solid #b8bcc4;border-radius:4px;
font-size:1rem}
button{margin-top:1rem;padding:.5rem 1.1rem;font-size:1rem;border-radius:4px;
border:1px solid #1a5fb4;background:#1a5fb4;color:#fff;cursor:pointer}
button.secondary{background:#fff;color:#1a5fb4}
ul{padding-left:1.2rem}
.note{color:#555;font-size:.9rem}
.error{color:#a4000f;font-weight:600}
code{background:#f0f1f3;padding:0 .2rem;border-radius:3px}
"""

SCOPE_DESCRIPTIONS = {
    "openid": "Confirm who you are",
    "profile": "Your name and user name",
    "email": "Your email address",
    "offline_access": "Stay signed in (refresh tokens)",
}


def _page(heading: str, body: str) -> str:
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(heading)} - {escape(TITLE)}</title><style>{_CSS}</style></head>"
        f"<body><main><h1>{escape(heading)}</h1>\n{body}\n</main></body></html>\n"
    )


def login_page(action: str, *, error: str | None = None, hint: str | None = None) -> str:
    """The login form; ``action`` is the authorization URL, query included."""
    parts = [
        "<p>Sign in to the local demo identity provider of Available Credentials for Jupyter.</p>"
    ]
    if error:
        parts.append(f'<p class="error" role="alert">{escape(error)}</p>')
    parts.append(
        f'<form method="post" action="{escape(action)}">'
        '<label for="username">User name</label>'
        '<input id="username" name="username" autocomplete="username" required autofocus>'
        '<label for="password">Password</label>'
        '<input id="password" name="password" type="password" '
        'autocomplete="current-password" required>'
        '<button type="submit">Sign in</button>'
        "</form>"
    )
    if hint:
        parts.append(f'<p class="note">{escape(hint)}</p>')
    return _page("Sign in", "\n".join(parts))


def consent_page(
    action: str, *, client_id: str, scopes: list[str], redirect_uri: str, who: str
) -> str:
    """The consent form: approve or deny ``client_id`` the listed scopes."""
    items = "".join(
        f"<li><code>{escape(scope)}</code>"
        + (f" &ndash; {escape(SCOPE_DESCRIPTIONS[scope])}" if scope in SCOPE_DESCRIPTIONS else "")
        + "</li>"
        for scope in scopes
    )
    target = urlsplit(redirect_uri)
    back_to = f"{target.scheme}://{target.netloc}" if target.netloc else redirect_uri
    body = (
        f"<p>Signed in as <strong>{escape(who)}</strong>.</p>"
        f"<p>The application <strong>{escape(client_id)}</strong> asks for:</p>"
        f"<ul>{items or '<li>no particular scope</li>'}</ul>"
        f'<p class="note">You will be sent back to <code>{escape(back_to)}</code>.</p>'
        f'<form method="post" action="{escape(action)}">'
        '<button type="submit" name="decision" value="approve">Allow</button> '
        '<button type="submit" name="decision" value="deny" class="secondary">Deny</button>'
        "</form>"
    )
    return _page("Allow access?", body)


def error_page(error: str, description: str | None) -> str:
    """An authorization error that cannot be sent back to the application."""
    body = f'<p class="error">{escape(error)}</p>'
    if description:
        body += f"<p>{escape(description)}</p>"
    body += (
        '<p class="note">The application that sent you here is misconfigured or the link is '
        "broken. Close this page and try signing in again from Jupyter.</p>"
    )
    return _page("Cannot sign in", body)


def fault_html_page() -> str:
    """What an injected ``html`` fault answers: the sort of page a captive portal shows."""
    return _page(
        "Please sign in to the network",
        "<p>This page stands in for a proxy or captive portal that answers instead of the "
        "identity provider.</p>",
    )
