"""The Jupyter server extension: configuration (traitlets), services, routes, kernel environment."""

from __future__ import annotations

import os
import secrets
import socket
from pathlib import Path
from urllib.parse import urlsplit

from jupyter_core.paths import jupyter_data_dir
from jupyter_server.extension.application import ExtensionApp
from jupyter_server.utils import url_path_join
from tornado.ioloop import IOLoop
from traitlets import Bool, Dict, Float, List, Unicode, default

from ._version import __version__
from .handlers import route_table
from .services import CredsServices
from .store import resolve_keys

KERNEL_URL_ENV = "JUPYTER_CREDS_URL"
KERNEL_TOKEN_ENV = "JUPYTER_CREDS_TOKEN"  # noqa: S105 (a variable name)
KEY_ENV = "JUPYTER_CREDS_KEY"
WILDCARD_IPS = ("", "0.0.0.0", "::")  # noqa: S104 (recognized, not bound)
CALLBACK_PATH = "creds/oauth/callback"


class CredsApp(ExtensionApp):
    """Available Credentials for Jupyter."""

    name = "jupyter_creds"
    version = __version__
    description = "OAuth integrations for notebooks: sign in once, get fresh tokens in any kernel."

    integrations_file = Unicode(
        "",
        config=True,
        help="""Path of the administrator's integrations file (TOML, [[integration]] tables).
        Re-read when it changes.""",
    )
    integrations = List(
        Dict(),
        config=True,
        help="""Integrations given in Jupyter config, each a dict with the same keys as an
        [[integration]] table of the integrations file.""",
    )
    redirect_uri = Unicode(
        "",
        config=True,
        help="""The OAuth redirect URI registered at the providers. Unset, it is derived from the
        server's own URL:
        <scheme>://<host the server prints>:<port><base_url>creds/oauth/callback.""",
    )
    refresh_leeway = Float(
        60.0,
        config=True,
        help="""Refresh an access token this many seconds before it expires (never more than half
        of the token's lifetime).""",
    )
    http_timeout = Float(
        10.0, config=True, help="Timeout in seconds for each request to a provider."
    )
    discovery_retry_interval = Float(
        30.0, config=True, help="Seconds between retries of an OIDC discovery that failed."
    )
    store_path = Unicode(
        config=True,
        help="The token store (SQLite). Default: <Jupyter data dir>/jupyter_creds/tokens.db",
    )
    encryption_keys = List(
        Unicode(),
        config=True,
        help=f"""Fernet keys for the token store, newest first (the first one encrypts). The
        {KEY_ENV} environment variable (';'-separated) takes precedence. With neither, a key file
        is generated next to the store, with a warning.""",
    )
    key_file = Unicode(config=True, help="Generated key file. Default: next to the store.")
    allow_shared_access = Bool(
        False,
        config=True,
        help="""Under JupyterHub, let everyone who may use this server (admins, users it is shared
        with) use its credential endpoints too, that is, read and use the owner's tokens. Off by
        default: only the server's owner ($JUPYTERHUB_USER) and the owner's kernels may.""",
    )

    @default("store_path")
    def _default_store_path(self) -> str:
        return str(Path(jupyter_data_dir()) / "jupyter_creds" / "tokens.db")

    @default("key_file")
    def _default_key_file(self) -> str:
        return str(Path(self.store_path).with_name("tokens.key"))

    def build_services(self, *, redirect_uri=None) -> CredsServices:
        """The services, from this app's configuration (also used by `jupyter creds` commands)."""
        keys = resolve_keys(
            env_value=os.environ.get(KEY_ENV),
            configured=self.encryption_keys,
            key_file=Path(self.key_file),
            log=self.log,
        )
        return CredsServices.build(
            configured=self.integrations,
            integrations_file=self.integrations_file or None,
            store_path=Path(self.store_path),
            keys=keys,
            leeway=self.refresh_leeway,
            http_timeout=self.http_timeout,
            retry_interval=self.discovery_retry_interval,
            kernel_secret=secrets.token_urlsafe(32),
            redirect_uri=redirect_uri or self.derived_redirect_uri,
            log=self.log,
        )

    def initialize_settings(self) -> None:
        self.services = self.build_services()
        self.settings["jupyter_creds"] = self.services
        self.settings["jupyter_creds_hub_owner"] = os.environ.get("JUPYTERHUB_USER") or None
        self.settings["jupyter_creds_allow_shared_access"] = self.allow_shared_access
        self._saved_env = {k: os.environ.get(k) for k in (KERNEL_URL_ENV, KERNEL_TOKEN_ENV)}
        self._publish_kernel_env()
        # The port is final only once the server is bound: publish again when the loop runs.
        IOLoop.current().add_callback(self._publish_kernel_env)
        self.log.info(
            "jupyter_creds %s: %d integration(s), store %s",
            __version__,
            len(self.services.registry.all()),
            self.store_path,
        )

    def initialize_handlers(self) -> None:
        self.handlers.extend(route_table())

    def _publish_kernel_env(self) -> None:
        """Kernels inherit the server's environment: this is how they find us (DESIGN.md)."""
        os.environ[KERNEL_TOKEN_ENV] = self.services.kernel_secret
        os.environ[KERNEL_URL_ENV] = self.kernel_url()

    def kernel_url(self) -> str:
        app = self.serverapp
        scheme = "https" if app.certfile else "http"
        ip = app.ip
        if ip in WILDCARD_IPS or ip == "localhost":
            host = "127.0.0.1"
        else:
            host = f"[{ip}]" if ":" in ip else ip
        return f"{scheme}://{host}:{app.port}" + url_path_join(app.base_url, "api/creds/")

    def derived_redirect_uri(self) -> str:
        if self.redirect_uri:
            return self.redirect_uri
        app = self.serverapp
        scheme = "https" if app.certfile else "http"
        if app.ip in WILDCARD_IPS:
            host = "localhost" if not app.ip else socket.gethostname()
        else:
            host = f"[{app.ip}]" if ":" in app.ip else app.ip
        netloc = f"{host}:{app.port}"
        if app.custom_display_url:
            custom = urlsplit(app.custom_display_url)
            scheme, netloc = custom.scheme or scheme, custom.netloc or netloc
        return f"{scheme}://{netloc}" + url_path_join(app.base_url, CALLBACK_PATH)

    async def stop_extension(self) -> None:
        for key, value in getattr(self, "_saved_env", {}).items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        if hasattr(self, "services"):
            await self.services.close()
