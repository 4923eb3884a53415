"""Code snippets that fetch an integration's access token in a Python or R kernel.

They are what the Available Credentials sidebar copies and inserts into notebooks, served by
``GET api/creds/integrations/{id}/snippet?language=python|r``. A snippet holds the integration's
id and nothing else from the server: never a token or a secret.

The R snippet is self-contained (jsonlite and curl only, both in Debian's r-cran-* packages): it
reads ``JUPYTER_CREDS_URL`` and ``JUPYTER_CREDS_TOKEN`` like the Python client, and leaves
``credentials`` set to a list, or to ``NULL`` when the user is not signed in.
"""

from __future__ import annotations

from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer, SLexer

from .config import is_guid

__all__ = ["LANGUAGES", "render_snippet", "snippet_code"]

LANGUAGES = ("python", "r")


_PYTHON = """\
from jupyter_creds import Client

client = Client()
credentials = client.oauth.get_credentials(audience="{integration_id}")
if credentials:
    access_token = credentials["access_token"]
    # Use access_token with your API requests
"""

# `local()` keeps the helper variables out of the user's workspace; `credentials` is NULL when
# the server answers not_signed_in or reauth_required, and any other error stops with the
# server's own message.
_R = """\
credentials <- local({{
  url <- Sys.getenv("JUPYTER_CREDS_URL")
  secret <- Sys.getenv("JUPYTER_CREDS_TOKEN")
  if (!nzchar(url) || !nzchar(secret)) {{
    stop("JUPYTER_CREDS_URL is not set: run this in a kernel started by a Jupyter server ",
         "with jupyter_creds enabled (check `jupyter server extension list`).", call. = FALSE)
  }}
  handle <- curl::new_handle()
  curl::handle_setheaders(handle, Authorization = paste("Bearer", secret))
  response <- curl::curl_fetch_memory(
    paste0(url, "credentials?audience={integration_id}"), handle = handle)
  answer <- tryCatch(jsonlite::fromJSON(rawToChar(response$content)), error = function(e) {{
    list(message = paste("Unexpected answer from the Jupyter server: HTTP", response$status_code))
  }})
  if (response$status_code == 200) {{
    answer
  }} else if (isTRUE(answer$reason %in% c("not_signed_in", "reauth_required"))) {{
    NULL
  }} else {{
    stop(answer$message, call. = FALSE)
  }}
}})
if (!is.null(credentials)) {{
  access_token <- credentials$access_token
  # Use access_token with your API requests
}}
"""

_TEMPLATES = {"python": _PYTHON, "r": _R}
_LEXERS = {"python": PythonLexer, "r": SLexer}


def snippet_code(integration_id: str, language: str) -> str:
    """Return the snippet for ``language`` (``"python"`` or ``"r"``) and this integration.

    Raises ``ValueError`` for another language or an id that is not a GUID.
    """
    if language not in _TEMPLATES:
        raise ValueError(
            f"Unknown snippet language {language!r}: use one of {', '.join(LANGUAGES)}."
        )
    # The id goes into code: only a GUID is accepted, so nothing but hex digits and dashes can.
    if not is_guid(integration_id):
        raise ValueError(f"Integration id must be a GUID, got {integration_id!r}.")
    return _TEMPLATES[language].format(integration_id=integration_id)


def render_snippet(integration_id: str, language: str) -> dict[str, str]:
    """Return ``{"language", "code", "html"}`` for the snippet REST endpoint.

    ``html`` is the code highlighted by Pygments: a ``<div class="highlight">`` fragment with
    CSS classes and no inline styles, safe to insert into a page (the code is HTML-escaped).
    Raises ``ValueError`` like :func:`snippet_code`.
    """
    code = snippet_code(integration_id, language)
    html = highlight(code, _LEXERS[language](), HtmlFormatter(cssclass="highlight"))
    return {"language": language, "code": code, "html": html}
