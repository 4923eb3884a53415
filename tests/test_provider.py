"""The embedded OpenID Connect provider, driven over real HTTP on loopback as a person would."""

from __future__ import annotations

import base64
import hashlib
import logging
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx2
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from jupyter_creds.provider import EmbeddedProvider, ProviderClient

pytestmark = pytest.mark.timeout(10)

REDIRECT_URI = "http://127.0.0.1:8888/creds/oauth/callback"
REGISTERED = ["http://127.0.0.1/creds/oauth/callback", "https://lab.example.com/cb"]
BASIC = ProviderClient("lab-basic", "basic-secret-1234", redirect_uris=REGISTERED)
POST = ProviderClient(
    "lab-post",
    "post-secret-5678",
    redirect_uris=REGISTERED,
    token_endpoint_auth_method="client_secret_post",
)
PUBLIC = ProviderClient("lab-public", redirect_uris=REGISTERED)
TIMEOUT = httpx2.Timeout(5.0)


# helpers: a browser that follows forms, and an OAuth client ----------------------------


@dataclass
class Form:
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)
    buttons: list[tuple[str, str]] = field(default_factory=list)


class FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(Form(attr.get("action", ""), attr.get("method", "get").lower()))
        elif tag == "input" and self.forms and attr.get("name"):
            self.forms[-1].fields[attr["name"]] = attr.get("value", "")
        elif tag == "button" and self.forms and attr.get("name"):
            self.forms[-1].buttons.append((attr["name"], attr.get("value", "")))


def only_form(response: httpx2.Response) -> Form:
    parser = FormParser()
    parser.feed(response.text)
    assert len(parser.forms) == 1, response.text
    assert parser.forms[0].method == "post"
    return parser.forms[0]


def submit(browser: httpx2.Client, page: httpx2.Response, **values: str) -> httpx2.Response:
    """Fill the page's form with ``values`` (a button as name=value) and send it."""
    form = only_form(page)
    data = dict(form.fields)
    for name, value in values.items():
        if name not in data:
            assert (name, value) in form.buttons, f"no field or button {name}={value}"
        data[name] = value
    return browser.post(urljoin(str(page.url), form.action), data=data)


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclass
class Flow:
    client: ProviderClient
    state: str
    nonce: str
    verifier: str
    url: str
    redirect_uri: str = REDIRECT_URI


def start_flow(provider: EmbeddedProvider, client: ProviderClient, **params: str) -> Flow:
    verifier, challenge = pkce()
    state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    query = {
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": REDIRECT_URI,
        "scope": "openid profile email offline_access",
        "state": state,
        "nonce": nonce,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    query.update(params)
    query = {k: v for k, v in query.items() if v is not None}
    return Flow(client, state, nonce, verifier, f"{provider.issuer}/authorize?{urlencode(query)}")


def redirect_params(response: httpx2.Response, flow: Flow) -> dict[str, str]:
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(flow.redirect_uri + "?")
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def sign_in(
    browser: httpx2.Client, flow: Flow, decision: str = "approve", user: str = "demo"
) -> dict[str, str]:
    """Authorize as a person: log in (if asked), decide, and return the redirect parameters."""
    page = browser.get(flow.url)
    assert page.status_code == 200, page.text
    if 'name="password"' in page.text:
        page = submit(browser, page, username=user, password="demo")
        assert page.status_code == 200, page.text
    return redirect_params(submit(browser, page, decision=decision), flow)


def client_auth(client: ProviderClient) -> tuple[dict[str, str], httpx2.BasicAuth | None]:
    if client.client_secret is None:
        return {"client_id": client.client_id}, None
    if client.token_endpoint_auth_method == "client_secret_post":
        return {"client_id": client.client_id, "client_secret": client.client_secret}, None
    return {}, httpx2.BasicAuth(client.client_id, client.client_secret)


def client_post(
    provider: EmbeddedProvider, path: str, client: ProviderClient, **data: str | None
) -> httpx2.Response:
    extra, auth = client_auth(client)
    body = {**extra, **{k: v for k, v in data.items() if v is not None}}
    return httpx2.post(f"{provider.issuer}{path}", data=body, auth=auth, timeout=TIMEOUT)


def exchange(provider: EmbeddedProvider, flow: Flow, code: str, **overrides) -> httpx2.Response:
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": flow.redirect_uri,
        "code_verifier": flow.verifier,
    }
    data.update(overrides)
    return client_post(provider, "/token", flow.client, **data)


def refresh(provider, client: ProviderClient, refresh_token: str) -> httpx2.Response:
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    return client_post(provider, "/token", client, **data)


def introspect(provider, client: ProviderClient, token: str) -> dict:
    response = client_post(provider, "/introspect", client, token=token)
    assert response.status_code == 200, response.text
    return response.json()


def userinfo(provider, access_token: str) -> httpx2.Response:
    headers = {"Authorization": f"Bearer {access_token}"}
    return httpx2.get(f"{provider.issuer}/userinfo", headers=headers, timeout=TIMEOUT)


def obtain_tokens(provider, client: ProviderClient = BASIC, **params: str) -> dict:
    flow = start_flow(provider, client, **params)
    with httpx2.Client(timeout=TIMEOUT) as browser:
        code = sign_in(browser, flow)["code"]
    response = exchange(provider, flow, code)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def provider():
    with EmbeddedProvider(clients=[BASIC, POST, PUBLIC]).start() as running:
        yield running


@pytest.fixture
def browser():
    with httpx2.Client(timeout=TIMEOUT) as client:
        yield client


# discovery and the full flow ---------------------------------------------------------


def test_discovery_describes_every_endpoint(provider):
    response = httpx2.get(f"{provider.issuer}/.well-known/openid-configuration", timeout=TIMEOUT)
    assert response.status_code == 200
    meta = response.json()
    issuer = provider.issuer
    assert issuer == f"http://127.0.0.1:{provider.port}"
    assert meta["issuer"] == issuer
    for name, path in [
        ("authorization_endpoint", "/authorize"),
        ("token_endpoint", "/token"),
        ("userinfo_endpoint", "/userinfo"),
        ("jwks_uri", "/jwks"),
        ("revocation_endpoint", "/revoke"),
        ("introspection_endpoint", "/introspect"),
    ]:
        assert meta[name] == issuer + path
    assert meta["response_types_supported"] == ["code"]
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["id_token_signing_alg_values_supported"] == ["RS256"]
    assert meta["authorization_response_iss_parameter_supported"] is True
    assert {"authorization_code", "refresh_token"} <= set(meta["grant_types_supported"])
    assert {"client_secret_basic", "client_secret_post", "none"} <= set(
        meta["token_endpoint_auth_methods_supported"]
    )
    assert {"openid", "offline_access"} <= set(meta["scopes_supported"])
    assert meta["subject_types_supported"] == ["public"]
    assert provider.requests_count("discovery") == 1


def test_person_signs_in_and_client_gets_verified_tokens(provider, browser):
    # Given an authorization request with PKCE and a nonce
    flow = start_flow(provider, BASIC)

    # When the person logs in and approves
    login = browser.get(flow.url)
    assert login.status_code == 200
    assert login.headers["content-type"].startswith("text/html")
    assert only_form(login).fields.keys() == {"username", "password"}
    consent = submit(browser, login, username="demo", password="demo")
    assert "lab-basic" in consent.text
    assert "offline_access" in consent.text
    params = redirect_params(submit(browser, consent, decision="approve"), flow)

    # Then the redirect carries code, state and iss
    assert params["state"] == flow.state
    assert params["iss"] == provider.issuer
    tokens = exchange(provider, flow, params["code"])
    assert tokens.status_code == 200, tokens.text
    assert tokens.headers["cache-control"] == "no-store"
    body = tokens.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 120
    assert set(body["scope"].split()) == {"openid", "profile", "email", "offline_access"}
    assert body["access_token"]
    assert body["refresh_token"]

    # And the id_token verifies with the published JWKS
    keys = KeySet.import_key_set(httpx2.get(f"{provider.issuer}/jwks", timeout=TIMEOUT).json())
    id_token = jwt.decode(body["id_token"], keys, algorithms=["RS256"])
    assert id_token.header["kid"] == keys.keys[0].kid
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": provider.issuer},
        aud={"essential": True, "value": "lab-basic"},
        nonce={"essential": True, "value": flow.nonce},
        exp={"essential": True},
        iat={"essential": True},
    ).validate(id_token.claims)
    claims = id_token.claims
    assert (claims["sub"], claims["email"]) == ("demo-user", "demo@example.com")
    assert (claims["preferred_username"], claims["name"]) == ("demo", "Demo User")

    # And userinfo accepts the access token
    info = userinfo(provider, body["access_token"])
    assert info.status_code == 200
    assert info.json() == {
        "sub": "demo-user",
        "email": "demo@example.com",
        "preferred_username": "demo",
        "name": "Demo User",
    }
    assert provider.requests_count("token", "authorization_code") == 1
    assert provider.requests_count("userinfo") == 1


def test_login_session_is_remembered_and_cookie_is_protected(provider, browser):
    flow = start_flow(provider, BASIC)
    login = browser.get(flow.url)
    consent = submit(browser, login, username="demo", password="demo")
    cookie = consent.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    sign_in(browser, flow)

    again = start_flow(provider, BASIC)
    page = browser.get(again.url)
    assert 'name="password"' not in page.text
    assert redirect_params(submit(browser, page, decision="approve"), again)["code"]


def test_wrong_password_shows_the_login_form_again(provider, browser):
    flow = start_flow(provider, BASIC)
    page = submit(browser, browser.get(flow.url), username="demo", password="nope")
    assert "Wrong user name or password" in page.text
    assert "password" in only_form(page).fields


def test_other_configured_users_get_their_own_subject(browser):
    with EmbeddedProvider(clients=[BASIC], users={"alice": "wonder"}).start() as provider:
        flow = start_flow(provider, BASIC)
        page = submit(browser, browser.get(flow.url), username="alice", password="wonder")
        code = redirect_params(submit(browser, page, decision="approve"), flow)["code"]
        tokens = exchange(provider, flow, code).json()
        assert userinfo(provider, tokens["access_token"]).json()["sub"] == "alice-user"


def test_deny_sends_access_denied_back(provider, browser):
    flow = start_flow(provider, BASIC)
    params = sign_in(browser, flow, decision="deny")
    assert params["error"] == "access_denied"
    assert params["state"] == flow.state
    assert params["iss"] == provider.issuer
    assert "code" not in params


# authorization request validation ----------------------------------------------------


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"code_challenge": None, "code_challenge_method": None}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"scope": "openid admin"}, "invalid_scope"),
        ({"response_type": "token"}, "unsupported_response_type"),
    ],
)
def test_redirectable_errors_go_back_with_state_and_iss(provider, browser, params, error):
    flow = start_flow(provider, BASIC, **params)
    answer = redirect_params(browser.get(flow.url), flow)
    assert answer["error"] == error
    assert answer["state"] == flow.state
    assert answer["iss"] == provider.issuer


@pytest.mark.parametrize(
    "params",
    [
        {"client_id": "no-such-client"},
        {"redirect_uri": "http://127.0.0.1:8888/elsewhere?<script>alert(1)</script>"},
        {"redirect_uri": "https://lab.example.com:8443/cb"},
        {"redirect_uri": 'http://127.0.0.1/"quoted"'},
    ],
)
def test_unredirectable_errors_show_an_escaped_page(provider, browser, params):
    flow = start_flow(provider, BASIC, **params)
    page = browser.get(flow.url)
    assert page.status_code == 400
    assert "location" not in page.headers
    assert page.headers["content-type"].startswith("text/html")
    assert "<script>" not in page.text
    assert "Cannot sign in" in page.text


def test_loopback_redirect_uri_matches_any_port(provider, browser):
    flow = start_flow(provider, BASIC, redirect_uri="http://127.0.0.1:45678/creds/oauth/callback")
    flow.redirect_uri = "http://127.0.0.1:45678/creds/oauth/callback"
    assert sign_in(browser, flow)["code"]


def test_prompt_none_never_shows_a_page(provider, browser):
    flow = start_flow(provider, BASIC, prompt="none")
    assert redirect_params(browser.get(flow.url), flow)["error"] == "login_required"
    sign_in(browser, start_flow(provider, BASIC))
    assert redirect_params(browser.get(flow.url), flow)["error"] == "consent_required"


def test_prompt_login_asks_again_even_when_signed_in(provider, browser):
    sign_in(browser, start_flow(provider, BASIC))
    flow = start_flow(provider, BASIC, prompt="login")
    page = browser.get(flow.url)
    assert 'name="password"' in page.text
    consent = submit(browser, page, username="demo", password="demo")
    assert redirect_params(submit(browser, consent, decision="approve"), flow)["code"]


def test_cross_origin_form_posts_are_refused(provider, browser):
    flow = start_flow(provider, BASIC)
    page = browser.get(flow.url)
    form = only_form(page)
    answer = browser.post(
        urljoin(str(page.url), form.action),
        data={"username": "demo", "password": "demo"},
        headers={"Origin": "http://evil.example"},
    )
    assert answer.status_code == 403


# token endpoint ------------------------------------------------------------------------


def test_pkce_verifier_must_be_present_and_right(provider, browser):
    flow = start_flow(provider, BASIC)
    code = sign_in(browser, flow)["code"]

    missing = exchange(provider, flow, code, code_verifier=None)
    assert (missing.status_code, missing.json()["error"]) == (400, "invalid_request")
    wrong = exchange(provider, flow, code, code_verifier=pkce()[0])
    assert (wrong.status_code, wrong.json()["error"]) == (400, "invalid_grant")
    assert exchange(provider, flow, code).status_code == 200


def test_codes_are_single_use_and_replay_revokes_their_tokens(provider, browser):
    flow = start_flow(provider, BASIC)
    code = sign_in(browser, flow)["code"]
    tokens = exchange(provider, flow, code).json()

    replay = exchange(provider, flow, code)
    assert replay.json()["error"] == "invalid_grant"
    assert introspect(provider, BASIC, tokens["access_token"]) == {"active": False}
    assert introspect(provider, BASIC, tokens["refresh_token"]) == {"active": False}


def test_codes_expire(provider, browser, monkeypatch):
    monkeypatch.setattr("jupyter_creds.provider.server.CODE_LIFETIME", 0.3)
    flow = start_flow(provider, BASIC)
    code = sign_in(browser, flow)["code"]
    time.sleep(0.4)
    assert exchange(provider, flow, code).json()["error"] == "invalid_grant"


def test_redirect_uri_must_equal_the_authorize_one(provider, browser):
    flow = start_flow(provider, BASIC)
    code = sign_in(browser, flow)["code"]
    answer = exchange(
        provider, flow, code, redirect_uri="http://127.0.0.1:9999/creds/oauth/callback"
    )
    assert answer.json()["error"] == "invalid_grant"


def test_public_client_needs_no_secret(provider):
    tokens = obtain_tokens(provider, PUBLIC)
    assert userinfo(provider, tokens["access_token"]).status_code == 200
    # introspection: a public client names itself with client_id alone
    assert introspect(provider, PUBLIC, tokens["access_token"])["active"] is True
    rotated = refresh(provider, PUBLIC, tokens["refresh_token"])
    assert rotated.status_code == 200, rotated.text


def test_client_secret_post_client(provider):
    tokens = obtain_tokens(provider, POST)
    assert introspect(provider, POST, tokens["access_token"])["client_id"] == "lab-post"


def test_confidential_client_with_wrong_secret_is_refused(provider, browser):
    flow = start_flow(provider, BASIC)
    code = sign_in(browser, flow)["code"]
    flow.client = ProviderClient("lab-basic", "not-the-secret")
    answer = exchange(provider, flow, code)
    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_client"
    # ...nor may it pretend to be public
    flow.client = ProviderClient("lab-basic")
    assert exchange(provider, flow, code).json()["error"] == "invalid_client"


def test_access_token_expiry_makes_userinfo_refuse(provider):
    provider.token_lifetime = 1
    tokens = obtain_tokens(provider)
    assert tokens["expires_in"] == 1
    assert userinfo(provider, tokens["access_token"]).status_code == 200

    time.sleep(1.2)
    expired = userinfo(provider, tokens["access_token"])
    assert expired.status_code == 401
    assert 'error="invalid_token"' in expired.headers["www-authenticate"]
    assert introspect(provider, BASIC, tokens["access_token"]) == {"active": False}
    fresh = refresh(provider, BASIC, tokens["refresh_token"]).json()
    assert userinfo(provider, fresh["access_token"]).status_code == 200


def test_userinfo_without_token_asks_for_bearer(provider):
    answer = httpx2.get(f"{provider.issuer}/userinfo", timeout=TIMEOUT)
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].startswith("Bearer")


def test_refresh_rotates_and_reuse_revokes_the_whole_grant(provider):
    first = obtain_tokens(provider)
    second = refresh(provider, BASIC, first["refresh_token"])
    assert second.status_code == 200
    second = second.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert "id_token" not in second
    assert introspect(provider, BASIC, first["refresh_token"]) == {"active": False}
    assert introspect(provider, BASIC, second["refresh_token"])["active"] is True

    # When the rotated-out refresh token comes back
    reuse = refresh(provider, BASIC, first["refresh_token"])

    # Then it is refused and everything of that grant is dead
    assert (reuse.status_code, reuse.json()["error"]) == (400, "invalid_grant")
    for token in (second["refresh_token"], second["access_token"], first["access_token"]):
        assert introspect(provider, BASIC, token) == {"active": False}
    assert refresh(provider, BASIC, second["refresh_token"]).json()["error"] == "invalid_grant"
    assert provider.requests_count("token", "refresh_token") == 3


def test_refresh_token_lifetime_is_enforced():
    with EmbeddedProvider(clients=[BASIC], refresh_token_lifetime=0.5).start() as provider:
        tokens = obtain_tokens(provider)
        time.sleep(0.7)
        assert refresh(provider, BASIC, tokens["refresh_token"]).json()["error"] == "invalid_grant"


def test_refresh_token_belongs_to_its_client(provider):
    tokens = obtain_tokens(provider, BASIC)
    assert refresh(provider, POST, tokens["refresh_token"]).json()["error"] == "invalid_grant"


def test_no_refresh_token_without_offline_access(provider):
    tokens = obtain_tokens(provider, BASIC, scope="openid email")
    assert "refresh_token" not in tokens
    assert tokens["id_token"]


def test_provider_without_refresh_tokens_or_expires_in():
    with EmbeddedProvider(
        clients=[BASIC], issue_refresh_tokens=False, send_expires_in=False
    ).start() as provider:
        tokens = obtain_tokens(provider)
        assert "refresh_token" not in tokens
        assert "expires_in" not in tokens
        assert userinfo(provider, tokens["access_token"]).status_code == 200


# revocation and introspection ------------------------------------------------------


def test_revoking_a_refresh_token_revokes_its_grant(provider):
    tokens = obtain_tokens(provider)
    answer = client_post(provider, "/revoke", BASIC, token=tokens["refresh_token"])
    assert answer.status_code == 200
    assert introspect(provider, BASIC, tokens["refresh_token"]) == {"active": False}
    assert introspect(provider, BASIC, tokens["access_token"]) == {"active": False}
    assert userinfo(provider, tokens["access_token"]).status_code == 401
    assert provider.requests_count("revoke") == 1


def test_revoking_an_access_token_leaves_the_refresh_token(provider):
    tokens = obtain_tokens(provider)
    hint = "access_token"
    client_post(provider, "/revoke", BASIC, token=tokens["access_token"], token_type_hint=hint)
    assert introspect(provider, BASIC, tokens["access_token"]) == {"active": False}
    assert introspect(provider, BASIC, tokens["refresh_token"])["active"] is True


def test_revoking_an_unknown_token_is_fine(provider):
    assert client_post(provider, "/revoke", PUBLIC, token="never-issued").status_code == 200


def test_introspection_describes_active_tokens(provider):
    tokens = obtain_tokens(provider)
    info = introspect(provider, BASIC, tokens["access_token"])
    assert info["active"] is True
    assert info["sub"] == "demo-user"
    assert info["client_id"] == "lab-basic"
    assert info["token_type"] == "Bearer"
    assert info["exp"] > time.time()
    # another client learns nothing about it
    assert introspect(provider, POST, tokens["access_token"]) == {"active": False}
    wrong = ProviderClient("lab-basic", "wrong")
    answer = client_post(provider, "/introspect", wrong, token=tokens["access_token"])
    assert answer.status_code == 401


# faults and counters -------------------------------------------------------------------


def token_post(provider, timeout: float = 5.0) -> httpx2.Response:
    return httpx2.post(
        f"{provider.issuer}/token",
        data={"grant_type": "refresh_token", "refresh_token": "x"},
        auth=httpx2.BasicAuth(BASIC.client_id, BASIC.client_secret),
        timeout=timeout,
    )


@pytest.mark.parametrize(("kind", "status"), [("500", 500), ("503", 503), ("429", 429)])
def test_status_faults(provider, kind, status):
    provider.inject_fault("token", kind, count=2)
    answers = [token_post(provider) for _ in range(3)]
    assert [a.status_code for a in answers] == [status, status, 400]
    if kind == "429":
        assert answers[0].headers["retry-after"] == "1"
    assert answers[2].json()["error"] == "invalid_grant"
    assert provider.requests_count("token", "refresh_token") == 3


def test_html_fault_answers_a_web_page(provider):
    provider.inject_fault("token", "html")
    answer = token_post(provider)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")


def test_no_access_token_fault(provider):
    provider.inject_fault("token", "no_access_token")
    answer = token_post(provider)
    assert answer.status_code == 200
    assert "access_token" not in answer.json()


def test_drop_fault_closes_without_answer(provider):
    provider.inject_fault("token", "drop")
    with pytest.raises(httpx2.RemoteProtocolError):
        token_post(provider)
    assert token_post(provider).status_code == 400


def test_stall_fault_never_answers_until_stop():
    provider = EmbeddedProvider(clients=[BASIC]).start()
    try:
        provider.inject_fault("token", "stall")
        with pytest.raises(httpx2.ReadTimeout):
            token_post(provider, timeout=0.5)
        assert token_post(provider).status_code == 400
    finally:
        started = time.monotonic()
        provider.stop()
        assert time.monotonic() - started < 3


def test_lost_answer_rotates_then_drops(provider):
    tokens = obtain_tokens(provider)
    provider.inject_fault("token", "lost_answer")
    with pytest.raises(httpx2.RemoteProtocolError):
        refresh(provider, BASIC, tokens["refresh_token"])
    # the refresh happened: the old refresh token is spent...
    assert introspect(provider, BASIC, tokens["refresh_token"]) == {"active": False}
    # ...and a client retrying with it trips reuse detection
    assert refresh(provider, BASIC, tokens["refresh_token"]).json()["error"] == "invalid_grant"
    assert introspect(provider, BASIC, tokens["access_token"]) == {"active": False}


@pytest.mark.parametrize(
    ("endpoint", "method", "path"),
    [
        ("discovery", "GET", "/.well-known/openid-configuration"),
        ("userinfo", "GET", "/userinfo"),
        ("revoke", "POST", "/revoke"),
        ("introspect", "POST", "/introspect"),
        ("jwks", "GET", "/jwks"),
    ],
)
def test_every_endpoint_takes_faults(provider, endpoint, method, path):
    provider.inject_fault(endpoint, "503")
    url = provider.issuer + path
    assert httpx2.request(method, url, timeout=TIMEOUT).status_code == 503
    assert httpx2.request(method, url, timeout=TIMEOUT).status_code != 503
    assert provider.requests_count(endpoint) == 2


def test_clear_faults_and_bad_fault_names(provider):
    provider.inject_fault("token", "500", count=5)
    provider.clear_faults()
    assert token_post(provider).status_code == 400
    with pytest.raises(ValueError, match="endpoint"):
        provider.inject_fault("tokens", "500")
    with pytest.raises(ValueError, match="fault"):
        provider.inject_fault("token", "418")
    with pytest.raises(ValueError, match="lost_answer"):
        provider.inject_fault("revoke", "lost_answer")
    with pytest.raises(ValueError, match="endpoint"):
        provider.requests_count("tokens")


def test_restart_keeps_state_and_port(provider):
    tokens = obtain_tokens(provider)
    issuer = provider.issuer
    provider.stop()
    provider.stop()  # idempotent
    with pytest.raises(httpx2.ConnectError):
        userinfo(provider, tokens["access_token"])
    provider.start()
    assert provider.issuer == issuer
    assert userinfo(provider, tokens["access_token"]).status_code == 200


def test_only_loopback_by_default():
    with pytest.raises(ValueError, match="loopback"):
        EmbeddedProvider(host="192.0.2.10")


def test_runs_standalone_and_prints_its_issuer():
    command = [sys.executable, "-m", "jupyter_creds.provider", "--client", "cli:secret"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            issuer = process.stdout.readline().strip()
            assert issuer.startswith("http://127.0.0.1:")
            meta = httpx2.get(f"{issuer}/.well-known/openid-configuration", timeout=TIMEOUT)
            assert meta.json()["issuer"] == issuer
        finally:
            process.terminate()
            assert process.wait(timeout=5) == 0


def test_logs_never_carry_secrets(caplog, browser):
    caplog.set_level(logging.DEBUG)
    password = "sentinel-password-" + secrets.token_hex(4)
    client = ProviderClient("sentinel", "sentinel-secret-" + secrets.token_hex(4))
    client.redirect_uris = REGISTERED
    with EmbeddedProvider(clients=[client], users={"alice": password}).start() as provider:
        flow = start_flow(provider, client)
        submit(browser, browser.get(flow.url), username="alice", password="wrong-" + password)
        page = submit(browser, browser.get(flow.url), username="alice", password=password)
        code = redirect_params(submit(browser, page, decision="approve"), flow)["code"]
        exchange(provider, flow, code, code_verifier="x" * 43)
        tokens = exchange(provider, flow, code).json()
        rotated = refresh(provider, client, tokens["refresh_token"]).json()
        refresh(provider, client, tokens["refresh_token"])
        userinfo(provider, rotated["access_token"])
        introspect(provider, client, rotated["access_token"])
        client_post(provider, "/revoke", client, token=rotated["refresh_token"])
    # The test's own HTTP client logs URLs; what matters is the provider's side.
    server_side = ("jupyter_creds", "authlib", "tornado", "asyncio")
    records = [r for r in caplog.records if r.name.startswith(server_side)]
    assert any(r.name == "jupyter_creds.provider" for r in records)
    logged = "\n".join(r.getMessage() + (r.exc_text or "") for r in records)
    secrets_seen = [
        password,
        client.client_secret,
        code,
        flow.state,
        flow.nonce,
        flow.verifier,
        tokens["access_token"],
        tokens["refresh_token"],
        tokens["id_token"],
        rotated["access_token"],
        rotated["refresh_token"],
    ]
    for value in secrets_seen:
        assert value not in logged
