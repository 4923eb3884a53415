"""Tornado handlers of the embedded provider.

Handlers stay thin: they count the request, apply any injected fault, hand the request to
authlib (under the state lock) and write what comes back. Logs carry the endpoint name and
status only, never a query string or body (they hold codes, states and tokens).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import urlsplit

from authlib.oauth2.rfc6749 import OAuth2Error
from authlib.oidc.core.errors import ConsentRequiredError, LoginRequiredError
from joserfc.jwk import RSAKey
from tornado import web

from . import pages
from .faults import RequestLedger, slow_delay
from .models import SignedInUser
from .server import IncomingRequest, OAuthResponse, ProviderAuthorizationServer, ProviderSettings
from .state import ProviderState

log = logging.getLogger("jupyter_creds.provider")

_FAULT_ANSWERS: dict[str, tuple[int, dict[str, Any]]] = {
    "500": (500, {"error": "server_error", "error_description": "Injected fault."}),
    "503": (503, {"error": "temporarily_unavailable", "error_description": "Injected fault."}),
    "429": (429, {"error": "slow_down", "error_description": "Injected fault."}),
    "no_access_token": (200, {"token_type": "Bearer", "expires_in": 60}),
}
_PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'"


@dataclass
class Runtime:
    """What every handler needs; one per running provider."""

    state: ProviderState
    server: ProviderAuthorizationServer
    ledger: RequestLedger
    settings: ProviderSettings
    key: RSAKey
    stopping: asyncio.Event
    session_cookie: str
    login_hint: str | None


class BadRequestEncoding(web.HTTPError):
    def __init__(self) -> None:
        super().__init__(400, reason="Parameters must be UTF-8")


def _decode(arguments: dict[str, list[bytes]]) -> dict[str, list[str]]:
    try:
        return {k: [v.decode("utf-8") for v in vs] for k, vs in arguments.items()}
    except UnicodeDecodeError:
        raise BadRequestEncoding() from None


class ProviderHandler(web.RequestHandler):
    endpoint: ClassVar[str] = "unknown"

    def initialize(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.lose_answer = False
        self.tamper_id_token = False

    def set_default_headers(self) -> None:
        self.set_header("Cache-Control", "no-store")
        self.set_header("Pragma", "no-cache")
        self.set_header("Referrer-Policy", "no-referrer")
        self.set_header("X-Content-Type-Options", "nosniff")

    def compute_etag(self) -> None:
        return None  # answers are never cached, so no conditional requests either

    async def prepare(self) -> None:
        grant_type = None
        if self.endpoint == "token" and self.request.method == "POST":
            grant_type = self.get_body_argument("grant_type", None)
        fault = self.runtime.ledger.record(self.endpoint, grant_type)
        if fault is None:
            return
        log.info("%s: injected fault %s", self.endpoint, fault)
        if fault == "lost_answer":
            self.lose_answer = True  # the handler runs, then drops the connection
        elif fault == "tampered_id_token":
            self.tamper_id_token = True  # the handler runs; its id_token's claims are altered
        elif fault == "drop":
            self.drop_connection()
        elif (delay := slow_delay(fault)) is not None:
            # Answer normally, but late: a request still in flight while a test acts meanwhile.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.runtime.stopping.wait(), delay)
        elif fault == "stall":
            await self.runtime.stopping.wait()
            self.drop_connection()
        elif fault == "html":
            self.set_header("Content-Type", "text/html; charset=utf-8")
            self.finish(pages.fault_html_page())
        else:
            status, body = _FAULT_ANSWERS[fault]
            if fault == "429":
                self.set_header("Retry-After", "1")
            self.write_json(body, status)

    def log_exception(self, typ, value, tb) -> None:
        # tornado's own version logs the URI with its query string (state, code): not here.
        if isinstance(value, web.HTTPError):
            log.info("%s -> %d", self.endpoint, value.status_code)
        else:
            log.error("%s: unexpected error", self.endpoint, exc_info=(typ, value, tb))

    def drop_connection(self) -> None:
        """Close the TCP connection without an answer."""
        log.info("%s: connection dropped", self.endpoint)
        try:
            self.detach().close()
        except Exception:  # the peer may have gone already
            log.debug("%s: connection was already gone", self.endpoint)

    def write_json(self, body: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(body))

    def incoming(self, params: dict[str, list[str]], query: dict[str, list[str]] | None = None):
        return IncomingRequest(
            method=self.request.method or "GET",
            uri=self.runtime.settings.issuer + self.request.path,
            headers=self.request.headers,
            params=params,
            query=query or {},
        )

    def body_params(self) -> dict[str, list[str]]:
        return _decode(self.request.body_arguments)

    def query_params(self) -> dict[str, list[str]]:
        return _decode(self.request.query_arguments)

    def send_oauth(self, response: OAuthResponse) -> None:
        if self.lose_answer:
            self.drop_connection()
            return
        self.set_status(response.status)
        for name, value in response.headers:
            self.set_header(name, value)
        self.finish(response.text())


class DiscoveryHandler(ProviderHandler):
    endpoint = "discovery"

    def get(self) -> None:
        issuer = self.runtime.settings.issuer
        self.write_json(
            {
                "issuer": issuer,
                "authorization_endpoint": f"{issuer}/authorize",
                "token_endpoint": f"{issuer}/token",
                "userinfo_endpoint": f"{issuer}/userinfo",
                "jwks_uri": f"{issuer}/jwks",
                "revocation_endpoint": f"{issuer}/revoke",
                "introspection_endpoint": f"{issuer}/introspect",
                "response_types_supported": ["code"],
                "response_modes_supported": ["query"],
                "grant_types_supported": ["authorization_code", "refresh_token"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": [
                    "client_secret_basic",
                    "client_secret_post",
                    "none",
                ],
                "revocation_endpoint_auth_methods_supported": [
                    "client_secret_basic",
                    "client_secret_post",
                    "none",
                ],
                "introspection_endpoint_auth_methods_supported": [
                    "client_secret_basic",
                    "client_secret_post",
                    "none",
                ],
                "scopes_supported": self.runtime.state.all_scopes(),
                "claims_supported": [
                    *("sub", "iss", "aud", "exp", "iat", "auth_time", "nonce"),
                    *("email", "preferred_username", "name"),
                ],
                "id_token_signing_alg_values_supported": ["RS256"],
                "subject_types_supported": ["public"],
                "prompt_values_supported": ["none", "login", "consent"],
                "authorization_response_iss_parameter_supported": True,
            }
        )


class JwksHandler(ProviderHandler):
    endpoint = "jwks"

    def get(self) -> None:
        self.write_json({"keys": [self.runtime.key.as_dict(private=False)]})


def _tampered(id_token: str) -> str:
    """The same signature over other claims: what an attacker changing `sub` would send."""
    header, payload, signature = id_token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = "someone-else"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


class TokenHandler(ProviderHandler):
    endpoint = "token"

    def post(self) -> None:
        runtime = self.runtime
        with runtime.state.lock:
            response = runtime.server.create_token_response(self.incoming(self.body_params()))
        if self.tamper_id_token and isinstance(response.body, dict) and "id_token" in response.body:
            response.body["id_token"] = _tampered(response.body["id_token"])
        self.send_oauth(response)


class RevokeHandler(ProviderHandler):
    endpoint = "revoke"

    def post(self) -> None:
        runtime = self.runtime
        with runtime.state.lock:
            response = runtime.server.create_endpoint_response(
                "revocation", self.incoming(self.body_params())
            )
        self.send_oauth(response)


class IntrospectHandler(ProviderHandler):
    endpoint = "introspect"

    def post(self) -> None:
        runtime = self.runtime
        with runtime.state.lock:
            response = runtime.server.create_endpoint_response(
                "introspection", self.incoming(self.body_params())
            )
        self.send_oauth(response)


class UserInfoHandler(ProviderHandler):
    endpoint = "userinfo"

    def get(self) -> None:
        scheme, _, token = (self.request.headers.get("Authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            self.set_header("WWW-Authenticate", 'Bearer realm="userinfo"')
            self.write_json({"error": "invalid_request"}, 401)
            return
        record = self.runtime.server.token_record(token.strip())
        if record is None:
            self.set_header(
                "WWW-Authenticate",
                'Bearer realm="userinfo", error="invalid_token", '
                'error_description="The access token is unknown, expired or revoked"',
            )
            self.write_json({"error": "invalid_token"}, 401)
            return
        self.write_json(record.user.claims())

    post = get


class AuthorizeHandler(ProviderHandler):
    """Authorization endpoint: validate, then log in, then ask for consent."""

    endpoint = "authorize"

    def set_default_headers(self) -> None:
        super().set_default_headers()
        # Our own form posts carry our Origin (checked below); other origins get nothing.
        self.set_header("Referrer-Policy", "same-origin")
        self.set_header("Content-Security-Policy", _PAGE_CSP)
        self.set_header("X-Frame-Options", "DENY")

    def get(self) -> None:
        self._authorize({})

    def post(self) -> None:
        origin = self.request.headers.get("Origin")
        own = urlsplit(self.runtime.settings.issuer)
        if origin is not None and origin not in (
            f"{own.scheme}://{own.netloc}",
            f"{self.request.protocol}://{self.request.host}",
        ):
            self._page(pages.error_page("Forbidden", "Cross-origin form submission."), 403)
            return
        self._authorize(self.body_params())

    def _page(self, html: str, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(html)

    def _action(self) -> str:
        query = self.request.query
        return self.request.path + (f"?{query}" if query else "")

    def _login(self, error: str | None = None) -> None:
        hint = self.runtime.login_hint
        self._page(pages.login_page(self._action(), error=error, hint=hint))

    def _authorize(self, form: dict[str, list[str]]) -> None:
        runtime = self.runtime
        server, state = runtime.server, runtime.state
        query = self.query_params()
        oauth_request = server.create_oauth2_request(self.incoming(query, query))
        signed_in = state.session(self.get_cookie(runtime.session_cookie))
        fields = {k: v[0] for k, v in form.items() if v}
        with state.lock:
            try:
                grant = server.get_consent_grant(oauth_request, end_user=signed_in)
                prompts = (oauth_request.payload.data.get("prompt") or "").split()
                if "none" in prompts:
                    # Consent is always asked for, so prompt=none can never succeed.
                    error_cls = ConsentRequiredError if signed_in else LoginRequiredError
                    raise error_cls(redirect_uri=grant.redirect_uri)
            except OAuth2Error as error:
                error.state = oauth_request.payload.state
                self._fail(oauth_request, error)
                return
            except ValueError:
                # authlib refuses to build an error whose description would echo characters
                # such as '"' from the request (RFC 6749 5.2): the request is malformed anyway.
                self._page(pages.error_page("invalid_request", "Malformed request."), 400)
                return

            if "username" in fields:
                user = state.check_password(fields["username"], fields.get("password", ""))
                if user is None:
                    self._login("Wrong user name or password.")
                    return
                session_id = state.open_session(user)
                self.set_cookie(
                    runtime.session_cookie, session_id, path="/", httponly=True, samesite="Lax"
                )
                signed_in = state.session(session_id)
            elif "decision" in fields and signed_in is not None:
                approved = fields["decision"] == "approve"
                response = server.create_authorization_response(
                    oauth_request, grant_user=signed_in if approved else None, grant=grant
                )
                self.send_oauth(response)
                return
            elif signed_in is None or "login" in prompts:
                self._login()
                return
            self._consent(signed_in, grant)

    def _consent(self, signed_in: SignedInUser | None, grant) -> None:
        assert signed_in is not None
        request = grant.request
        user = signed_in.user
        self._page(
            pages.consent_page(
                self._action(),
                client_id=request.client.get_client_id(),
                scopes=(request.scope or "").split(),
                redirect_uri=grant.redirect_uri,
                who=f"{user.name} ({user.username})",
            )
        )

    def _fail(self, oauth_request, error: OAuth2Error) -> None:
        server = self.runtime.server
        if error.redirect_uri:
            response = server.handle_error_response(oauth_request, error)
            # RFC 9207: error responses carry iss too.
            server.execute_hook("after_create_authorization_response", response)
            self.send_oauth(response)
            return
        log.info("authorize: %s, not redirectable", error.error)
        self._page(pages.error_page(error.error, error.get_error_description()), 400)


def log_request(handler: web.RequestHandler) -> None:
    status = handler.get_status()
    level = logging.DEBUG if status < 400 else logging.INFO if status < 500 else logging.WARNING
    endpoint = getattr(handler, "endpoint", "unknown")
    log.log(level, "%s %s -> %d", handler.request.method, endpoint, status)


def make_app(runtime: Runtime) -> web.Application:
    kwargs = {"runtime": runtime}
    return web.Application(
        [
            (r"/\.well-known/openid-configuration", DiscoveryHandler, kwargs),
            (r"/\.well-known/oauth-authorization-server", DiscoveryHandler, kwargs),
            (r"/jwks", JwksHandler, kwargs),
            (r"/authorize", AuthorizeHandler, kwargs),
            (r"/token", TokenHandler, kwargs),
            (r"/userinfo", UserInfoHandler, kwargs),
            (r"/revoke", RevokeHandler, kwargs),
            (r"/introspect", IntrospectHandler, kwargs),
        ],
        log_function=log_request,
    )
