"""Run the embedded provider alone: ``python -m jupyter_creds.provider --client ID[:SECRET]``."""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
import threading

from . import EmbeddedProvider, ProviderClient

DEFAULT_REDIRECT_URIS = [
    "http://127.0.0.1/creds/oauth/callback",
    "http://localhost/creds/oauth/callback",
]


def _client(value: str) -> tuple[str, str | None]:
    client_id, sep, secret = value.partition(":")
    if not client_id:
        raise argparse.ArgumentTypeError("a client is ID or ID:SECRET")
    return client_id, (secret if sep else None)


def _user(value: str) -> tuple[str, str]:
    name, sep, password = value.partition(":")
    if not name or not sep:
        raise argparse.ArgumentTypeError("a user is NAME:PASSWORD")
    return name, password


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m jupyter_creds.provider",
        description="Run the embedded OpenID Connect provider on loopback until interrupted.",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default: %(default)s)"
    )
    parser.add_argument("--port", type=int, default=0, help="port; 0 picks a free one")
    parser.add_argument(
        "--client",
        type=_client,
        action="append",
        default=[],
        metavar="ID[:SECRET]",
        help="register a client; without SECRET it is public (PKCE only). Repeatable. "
        "Default: one public client 'demo-public'.",
    )
    parser.add_argument(
        "--redirect-uri",
        action="append",
        default=[],
        metavar="URI",
        help="redirect URI allowed for every client; loopback ones match any port. "
        f"Default: {' and '.join(DEFAULT_REDIRECT_URIS)}",
    )
    parser.add_argument(
        "--scope", action="append", default=[], help="extra scope every client may ask for"
    )
    parser.add_argument("--user", type=_user, action="append", default=[], metavar="NAME:PASSWORD")
    parser.add_argument("--token-lifetime", type=float, default=120, help="seconds")
    parser.add_argument("--refresh-token-lifetime", type=float, default=86400, help="seconds")
    parser.add_argument("--verbose", "-v", action="store_true", help="log every request")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING)
    redirect_uris = args.redirect_uri or DEFAULT_REDIRECT_URIS
    clients = []
    for client_id, secret in args.client or [("demo-public", None)]:
        client = ProviderClient(client_id, secret, redirect_uris=list(redirect_uris))
        client.scopes.extend(args.scope)
        clients.append(client)
    provider = EmbeddedProvider(
        clients=clients,
        host=args.host,
        port=args.port,
        token_lifetime=args.token_lifetime,
        refresh_token_lifetime=args.refresh_token_lifetime,
        users=dict(args.user) if args.user else None,
    )
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    with provider.start():
        print(provider.issuer, flush=True)
        for client in clients:
            kind = "public" if client.is_public else "confidential"
            print(f"  client {client.client_id} ({kind})", file=sys.stderr)
        with contextlib.suppress(KeyboardInterrupt):
            done.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
