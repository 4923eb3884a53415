"""The snippets' content: valid code of the reference shape, highlighted HTML, nothing injected.

Running them against a server is in test_client_unit.py (fake server) and the kernel tests.
"""

from __future__ import annotations

import ast
import re
import subprocess

import pytest

from jupyter_creds.snippets import LANGUAGES, render_snippet, snippet_code

GUID = "3f0c6a52-1c34-4a59-9d38-9f0c1b3e2a11"


def test_python_snippet_has_the_reference_shape() -> None:
    assert snippet_code(GUID, "python").splitlines() == [
        "from jupyter_creds import Client",
        "",
        "client = Client()",
        f'credentials = client.oauth.get_credentials(audience="{GUID}")',
        "if credentials:",
        '    access_token = credentials["access_token"]',
        "    # Use access_token with your API requests",
    ]


def test_python_snippet_compiles() -> None:
    compile(snippet_code(GUID, "python"), "<snippet>", "exec")


def test_r_snippet_parses_and_uses_only_jsonlite_and_curl() -> None:
    code = snippet_code(GUID, "r")

    run = subprocess.run(
        ["Rscript", "--vanilla", "-e", "invisible(parse(text = readLines(file('stdin'))))"],
        input=code,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert run.returncode == 0, run.stderr
    assert "library(" not in code
    assert "rstudioapi" not in code
    assert set(re.findall(r"(\w+)::", code)) == {"curl", "jsonlite"}
    assert f"credentials?audience={GUID}" in code
    assert "access_token <- credentials$access_token" in code


@pytest.mark.parametrize("language", LANGUAGES)
def test_render_gives_code_and_highlighted_html_fragment(language: str) -> None:
    snippet = render_snippet(GUID, language)

    assert snippet["language"] == language
    assert snippet["code"] == snippet_code(GUID, language)
    html = snippet["html"]
    assert html.startswith('<div class="highlight"><pre>')
    assert html.count("<span class=") > 10
    for whole_document_or_active in ("<html", "<body", "<style", "<script", " style="):
        assert whole_document_or_active not in html
    assert GUID in html


@pytest.mark.parametrize("language", ["", "Python ", "julia", "R", None])
def test_unknown_language_is_a_value_error(language: str) -> None:
    with pytest.raises(ValueError, match="python, r"):
        snippet_code(GUID, language)


@pytest.mark.parametrize(
    "integration_id",
    [
        "",
        "snowflake",
        f"{GUID}\n",
        f'{GUID}"); system("id"); ("',
        GUID.replace("-", ""),
        "../../etc/passwd",
        None,
    ],
)
def test_an_id_that_is_not_a_guid_is_a_value_error(integration_id: str) -> None:
    with pytest.raises(ValueError, match="GUID"):
        render_snippet(integration_id, "python")


def test_python_snippet_reads_no_token() -> None:
    tree = ast.parse(snippet_code(GUID, "python"))
    strings = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)]

    assert strings == [GUID, "access_token"]  # the id, the key: no secret of any kind


def test_snippets_hold_no_secret_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUPYTER_CREDS_TOKEN", "sentinel-kernel-secret-71d2")
    for language in LANGUAGES:
        snippet = render_snippet(GUID, language)
        assert "sentinel-kernel-secret-71d2" not in snippet["code"] + snippet["html"]
