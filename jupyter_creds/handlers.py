"""REST handlers under ``{base_url}api/creds/`` and the OAuth callback page.

Handlers stay thin: parse, authenticate/authorize, call a service, serialize. Every REST handler is
``@web.authenticated`` then ``@authorized``; a kernel's secret (``JUPYTER_CREDS_TOKEN``) is accepted
here and nowhere else, and only from a loopback peer with no proxy headers.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
from typing import Any

from jupyter_server.auth.decorator import allow_unauthenticated, authorized
from jupyter_server.auth.identity import User
from jupyter_server.base.handlers import APIHandler, JupyterHandler
from tornado import web

from . import pages
from .config import is_guid
from .credentials import CredentialsError
from .services import CredsServices
from .signin import SignInError
from .snippets import LANGUAGES, render_snippet
from .store import StoreError

AUTH_RESOURCE_INTEGRATIONS = "jupyter_creds:integrations"
AUTH_RESOURCE_CREDENTIALS = "jupyter_creds:credentials"
KERNEL_USER = User(username="jupyter-creds-kernel", name="Jupyter kernel")
PROXY_HEADERS = ("X-Forwarded-For", "X-Real-Ip", "Forwarded", "X-Forwarded-Host")


def _is_loopback(ip: str | None) -> bool:
    try:
        return ipaddress.ip_address(ip or "").is_loopback
    except ValueError:
        return False


class _KernelIdentity:
    """The server's IdentityProvider, plus the kernel secret on these endpoints only."""

    def __init__(self, inner: Any, secret: str):
        self._inner = inner
        self._secret = secret

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def _is_kernel(self, handler: web.RequestHandler) -> bool:
        auth = handler.request.headers.get("Authorization", "")
        scheme, _, value = auth.partition(" ")
        if scheme.lower() != "bearer" or not value or not self._secret:
            return False
        if not hmac.compare_digest(value.strip().encode(), self._secret.encode()):
            return False
        request = handler.request
        return _is_loopback(request.remote_ip) and not any(
            h in request.headers for h in PROXY_HEADERS
        )

    def get_user(self, handler: web.RequestHandler) -> Any:
        if self._is_kernel(handler):
            return KERNEL_USER
        return self._inner.get_user(handler)

    def is_token_authenticated(self, handler: web.RequestHandler) -> bool:
        # A bearer header is never sent by a browser on its own: no XSRF check is needed for it.
        return self._is_kernel(handler) or self._inner.is_token_authenticated(handler)


def is_server_owner(user: Any, hub_owner: str | None) -> bool:
    """Whether ``user`` owns this server, so that its credentials are theirs to use.

    Under JupyterHub, the Hub's identity provider says who is asking (a ``JupyterHubUser``
    carrying the Hub's model as ``hub_user``) and the Hub told the server whose it is
    (``$JUPYTERHUB_USER``, given here as ``hub_owner``): only that user qualifies. An admin, a
    user the owner shared the server with, or a service (even one with the owner's name) can
    reach the server but is not its owner. Without JupyterHub, a single-user server has one
    credential, its token or password, and whoever presents it is the owner.
    """
    hub_user = getattr(user, "hub_user", None)
    if not isinstance(hub_user, dict):
        return True
    is_a_user = hub_user.get("kind", "user") == "user"
    return bool(hub_owner) and is_a_user and hub_user.get("name") == hub_owner


class _KernelAuthorizer:
    """The kernel may use the credential endpoints; other users only if they own the server (or
    the administrator allowed shared access), and then as the server's own authorizer says."""

    def __init__(self, inner: Any, *, hub_owner: str | None, allow_shared: bool, log: Any):
        self._inner = inner
        self._hub_owner = hub_owner
        self._allow_shared = allow_shared
        self._log = log

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def is_authorized(self, handler: Any, user: Any, action: str, resource: str) -> Any:
        if user is KERNEL_USER:
            return resource.startswith("jupyter_creds:")
        if resource.startswith("jupyter_creds:") and not (
            self._allow_shared or is_server_owner(user, self._hub_owner)
        ):
            self._log.warning(
                "jupyter_creds: refused %s to %r: the credentials belong to %r, who owns this "
                "server (CredsApp.allow_shared_access is off)",
                resource,
                getattr(user, "username", None),
                self._hub_owner,
            )
            return False
        return self._inner.is_authorized(handler, user, action, resource)


class CredsAPIHandler(APIHandler):
    auth_resource = AUTH_RESOURCE_INTEGRATIONS

    @property
    def creds(self) -> CredsServices:
        return self.settings["jupyter_creds"]

    @property
    def identity_provider(self) -> Any:
        return _KernelIdentity(super().identity_provider, self.creds.kernel_secret)

    @property
    def authorizer(self) -> Any:
        return _KernelAuthorizer(
            super().authorizer,
            hub_owner=self.settings.get("jupyter_creds_hub_owner"),
            allow_shared=bool(self.settings.get("jupyter_creds_allow_shared_access")),
            log=self.log,
        )

    async def integration(self, integration_id: str):
        if not is_guid(integration_id):
            raise web.HTTPError(400, "The integration id must be a GUID.", reason="bad_request")
        await self.creds.registry.ready()
        integ = self.creds.registry.get(integration_id.lower())
        if integ is None:
            raise web.HTTPError(
                404,
                f"There is no integration with id {integration_id}. "
                "List the integrations to see their ids.",
                reason="unknown_integration",
            )
        return integ

    def write_json(self, data: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(json.dumps(data))

    def raise_error(self, e: CredentialsError) -> None:
        raise web.HTTPError(e.status, e.message, reason=e.reason)

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        # tornado formats an HTTPError's message as a %-template; ours may contain '%' (names,
        # provider text), so log it as an argument instead.
        if isinstance(value, web.HTTPError):
            self.log.warning(
                "%d %s: %s", value.status_code, self._request_summary(), value.log_message
            )
        elif isinstance(value, StoreError):  # its text says what is wrong; no traceback needed
            self.log.error("500 %s: %s", self._request_summary(), value)
        else:
            super().log_exception(typ, value, tb)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        # The store failing (damaged, locked, unreadable disk) is an answer with a reason, not
        # jupyter_server's "Unhandled error" with a traceback.
        error = (kwargs.get("exc_info") or (None, None, None))[1]
        if isinstance(error, StoreError):
            self.set_header("Content-Type", "application/json; charset=UTF-8")
            self.finish(
                json.dumps({"message": f"The token store failed: {error}", "reason": "store_error"})
            )
            return
        super().write_error(status_code, **kwargs)


class IntegrationsHandler(CredsAPIHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        await self.creds.registry.ready()
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(self.creds.credentials.listing_json())


class IntegrationHandler(CredsAPIHandler):
    @web.authenticated
    @authorized
    async def get(self, integration_id: str) -> None:
        integ = await self.integration(integration_id)
        summary = self.creds.store.summaries().get(integ.id)
        self.write_json(self.creds.credentials.describe(integ, summary))


class SignInHandler(CredsAPIHandler):
    @web.authenticated
    @authorized
    async def post(self, integration_id: str) -> None:
        integ = await self.integration(integration_id)
        if not integ.ok:
            raise web.HTTPError(
                409,
                f"{integ.display_name} is misconfigured: {integ.error}",
                reason="config_error",
            )
        url = self.creds.signin.start(integ, redirect_uri=self.creds.redirect_uri())
        self.write_json({"authorization_url": url})


class SignOutHandler(CredsAPIHandler):
    @web.authenticated
    @authorized
    async def post(self, integration_id: str) -> None:
        integ = await self.integration(integration_id)
        self.creds.credentials.sign_out(integ)
        self.set_status(204)
        self.finish()


class SnippetHandler(CredsAPIHandler):
    @web.authenticated
    @authorized
    async def get(self, integration_id: str) -> None:
        integ = await self.integration(integration_id)
        language = self.get_query_argument("language", "python").lower()
        if language not in LANGUAGES:
            raise web.HTTPError(
                400,
                f"Unknown snippet language; use one of: {', '.join(LANGUAGES)}.",
                reason="bad_request",
            )
        self.write_json(render_snippet(integ.id, language))


class CredentialsHandler(CredsAPIHandler):
    auth_resource = AUTH_RESOURCE_CREDENTIALS

    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.set_header("Cache-Control", "no-store")
        audience = self.get_query_argument("audience", "")
        if not audience:
            raise web.HTTPError(
                400, "Give the integration id as ?audience=<GUID>.", reason="bad_request"
            )
        integ = await self.integration(audience)
        try:
            tokens = await self.creds.credentials.get_credentials(integ)
        except CredentialsError as e:
            self.raise_error(e)
            return
        self.write_json(
            {
                "access_token": tokens.access_token,
                "token_type": tokens.token_type,
                "expires_at": tokens.expires_at,
                "scope": tokens.scope,
                "integration_id": integ.id,
            }
        )


class CallbackHandler(JupyterHandler):
    """The redirect URI. Authorized by its single-use state alone (DESIGN.md's one exception):
    it must never bounce to the login page, which would put the code into a logged URL."""

    @property
    def creds(self) -> CredsServices:
        return self.settings["jupyter_creds"]

    def set_default_headers(self) -> None:
        super().set_default_headers()
        self.set_header("Referrer-Policy", "no-referrer")
        self.set_header("Cache-Control", "no-store")
        self.set_header("X-Content-Type-Options", "nosniff")

    @allow_unauthenticated
    async def get(self) -> None:
        arg = self.get_query_argument
        try:
            result = await self.creds.signin.complete(
                state=arg("state", None),
                code=arg("code", None),
                iss=arg("iss", None),
                error=arg("error", None),
                error_description=arg("error_description", None),
            )
        except SignInError as e:
            self._page(
                e.status,
                pages.signin_failed(str(e), integration_id=e.integration_id),
            )
            return
        self._page(
            200,
            pages.signin_succeeded(
                result.integration.display_name, result.account, result.integration.id
            ),
        )

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        # tornado's version logs the request URI, whose query holds the code and the state.
        if isinstance(value, web.HTTPError):
            self.log.warning("%d %s %s", value.status_code, self.request.method, self.request.path)
        else:
            self.log.error("the sign-in callback failed", exc_info=(typ, value, tb))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        # Whatever went wrong, the person sees our page (escaped, no third-party assets).
        self._page(
            status_code,
            pages.signin_failed(
                "Something went wrong while completing the sign-in. Start it again from Jupyter; "
                "if it keeps failing, the Jupyter server's log says more.",
                integration_id=None,
            ),
        )

    def _page(self, status: int, page: pages.Page) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        self.set_header("Content-Security-Policy", page.csp)
        self.finish(page.html)


def route_table() -> list[tuple[str, type[web.RequestHandler]]]:
    guid = r"(?P<integration_id>[^/]+)"
    return [
        (r"api/creds/integrations/?", IntegrationsHandler),
        (rf"api/creds/integrations/{guid}/signin", SignInHandler),
        (rf"api/creds/integrations/{guid}/signout", SignOutHandler),
        (rf"api/creds/integrations/{guid}/snippet", SnippetHandler),
        (rf"api/creds/integrations/{guid}/?", IntegrationHandler),
        (r"api/creds/credentials/?", CredentialsHandler),
        (r"creds/oauth/callback", CallbackHandler),
    ]
