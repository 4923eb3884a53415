"""`jupyter creds demo`: JupyterLab + an embedded OpenID Connect provider, no account anywhere."""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import sys
import tempfile
from pathlib import Path

from .provider import EmbeddedProvider, ProviderClient

SECRET_ENV = "JUPYTER_CREDS_DEMO_SECRET"  # noqa: S105 (a variable name)
ANALYTICS_ID = "6f1c2a7e-3b7d-4c8e-9a41-0d5e2b6c7f10"
WAREHOUSE_ID = "a3d9e4b2-58c1-4f0a-b7e6-2c9d1f4a8e21"
BROKEN_ID = "c8b7a6f5-1e2d-4c3b-9a8f-7e6d5c4b3a29"
SCOPES = ["openid", "profile", "email", "offline_access"]


def demo_clients(base_url: str = "/") -> list[ProviderClient]:
    """The provider's registered clients; loopback redirect URIs match any port (RFC 8252)."""
    path = base_url.rstrip("/") + "/creds/oauth/callback"
    uris = [f"http://127.0.0.1{path}", f"http://localhost{path}", f"http://[::1]{path}"]
    secret = os.environ.setdefault(SECRET_ENV, secrets.token_urlsafe(24))
    return [
        ProviderClient(client_id="demo-analytics", client_secret=secret, redirect_uris=uris),
        ProviderClient(
            client_id="demo-warehouse",
            client_secret=None,
            redirect_uris=uris,
            token_endpoint_auth_method="none",  # noqa: S106 (a method name)
        ),
    ]


def integrations_toml(issuer: str) -> str:
    """Two working integrations and one broken one (a reason known at start-up)."""
    return f"""# Written by `jupyter creds demo`. The format is the one administrators use.

[[integration]]
id = "{ANALYTICS_ID}"
name = "analytics"
display_name = "Demo Analytics"
issuer = "{issuer}"
client_id = "demo-analytics"
client_secret_env = "{SECRET_ENV}"
scopes = {json.dumps(SCOPES)}

[[integration]]
id = "{WAREHOUSE_ID}"
name = "warehouse"
display_name = "Demo Warehouse (public PKCE client)"
issuer = "{issuer}"
client_id = "demo-warehouse"
scopes = ["openid", "email", "offline_access"]

[[integration]]
id = "{BROKEN_ID}"
name = "legacy-crm"
display_name = "Legacy CRM (misconfigured)"
client_id = "legacy-crm"
auth_url = "{issuer}/authorize"
# token_url is missing on purpose: the demo shows what a configuration error looks like.
"""


def _base_url(args: list[str]) -> str:
    for i, arg in enumerate(args):
        for flag in ("--ServerApp.base_url", "--base-url", "--base_url"):
            if arg.startswith(flag + "="):
                return arg.split("=", 1)[1]
            if arg == flag and i + 1 < len(args):
                return args[i + 1]
    return "/"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="jupyter creds demo",
        description="Run JupyterLab with an embedded OpenID Connect provider (login demo / demo). "
        "Other arguments go to JupyterLab, e.g. --no-browser --port 8899.",
    )
    parser.add_argument(
        "--token-lifetime", type=float, default=120.0, help="access token lifetime, seconds"
    )
    parser.add_argument("--state-dir", help="keep the demo's tokens and files here (default: temp)")
    parser.add_argument("--provider-port", type=int, default=0, help="the provider's port")
    opts, lab_args = parser.parse_known_args(argv)
    state = (
        Path(opts.state_dir)
        if opts.state_dir
        else Path(tempfile.mkdtemp(prefix="jupyter-creds-demo-"))
    )
    state.mkdir(parents=True, exist_ok=True)
    provider = EmbeddedProvider(
        clients=demo_clients(_base_url(lab_args)),
        port=opts.provider_port,
        token_lifetime=opts.token_lifetime,
    ).start()
    integrations = state / "integrations.toml"
    integrations.write_text(integrations_toml(provider.issuer), encoding="utf-8")
    print(
        f"jupyter creds demo: OpenID Connect provider at {provider.issuer} "
        "(sign in as demo / demo); "
        f"tokens last {opts.token_lifetime:g} s; state in {state}",
        flush=True,
    )
    from jupyterlab.labapp import LabApp

    argv_lab = [
        "--ServerApp.ip=127.0.0.1",
        f"--CredsApp.integrations_file={integrations}",
        f"--CredsApp.store_path={state / 'tokens.db'}",
        f"--CredsApp.key_file={state / 'tokens.key'}",
        *lab_args,  # the user's arguments come last, so they win
    ]
    try:
        LabApp.launch_instance(argv=argv_lab)
    finally:
        provider.stop()
        if not opts.state_dir:
            shutil.rmtree(state, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
