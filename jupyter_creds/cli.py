"""`jupyter creds`: demo, validate, list, rotate-key. The commands read the server's own config."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence

from .config import Integration

USAGE = """usage: jupyter creds <command> [options]

commands:
  demo         run JupyterLab with an embedded OpenID Connect provider (no account needed)
  validate     check the integrations (file and config), discovery included; exit 1 if any is broken
  list         print the configured integrations
  rotate-key   re-encrypt the token store with the first key of JUPYTER_CREDS_KEY
"""


def _creds_app(integrations_file: str | None = None):
    """A CredsApp configured exactly like the server's: jupyter_server_config files + overrides."""
    from jupyter_server.serverapp import ServerApp

    from .app import CredsApp

    server = ServerApp()
    server.load_config_file()
    app = CredsApp(config=server.config)
    app.log = logging.getLogger("jupyter_creds")
    if integrations_file:
        app.integrations_file = integrations_file
    return app


def _table(integrations: Sequence[Integration], show_reason: bool) -> str:
    rows = [("STATUS", "NAME", "ID", "DISPLAY NAME", "REASON" if show_reason else "ISSUER")]
    for i in integrations:
        last = (i.error or "") if show_reason else (i.issuer or i.auth_url or "")
        rows.append(("ok" if i.ok else "error", i.name, i.id, i.display_name, last))
    widths = [max(len(r[c]) for r in rows) for c in range(4)]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(r[:4], widths, strict=True)) + "  " + r[4]
        for r in rows
    )


def _registry(integrations_file: str | None):
    from .oauth import OAuthClient
    from .registry import IntegrationRegistry

    app = _creds_app(integrations_file)
    log = logging.getLogger("jupyter_creds")
    oauth = OAuthClient(timeout=app.http_timeout, retries=0, log=log)
    registry = IntegrationRegistry(
        configured=app.integrations,
        file=app.integrations_file or None,
        oauth=oauth,
        log=log,
        retry_interval=app.discovery_retry_interval,
    )
    return registry, oauth


def validate(args: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="jupyter creds validate")
    parser.add_argument("file", nargs="?", help="integrations file (default: the configured one)")
    opts = parser.parse_args(args)

    async def run() -> list[Integration]:
        registry, oauth = _registry(opts.file)
        try:
            return await registry.validate()
        finally:
            await oauth.aclose()

    integrations = asyncio.run(run())
    if not integrations:
        print("no integrations are configured (set CredsApp.integrations_file)")
        return 1
    print(_table(integrations, show_reason=True))
    broken = [i for i in integrations if not i.ok]
    print(f"\n{len(integrations) - len(broken)} ok, {len(broken)} broken")
    return 1 if broken else 0


def list_(args: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="jupyter creds list")
    parser.add_argument("file", nargs="?", help="integrations file (default: the configured one)")
    opts = parser.parse_args(args)
    registry, _ = _registry(opts.file)
    integrations = registry.all()
    if not integrations:
        print("no integrations are configured (set CredsApp.integrations_file)")
        return 0
    print(_table(integrations, show_reason=False))
    print("\n(no network checks here: `jupyter creds validate` runs discovery too)")
    return 0


def rotate_key(args: list[str]) -> int:
    argparse.ArgumentParser(
        prog="jupyter creds rotate-key",
        description="Re-encrypt every stored token with the first key of JUPYTER_CREDS_KEY "
        "(keep the old key after it until this has run).",
    ).parse_args(args)
    import os
    from pathlib import Path

    from .store import TokenStore, resolve_keys

    app = _creds_app()
    keys = resolve_keys(
        env_value=os.environ.get("JUPYTER_CREDS_KEY"),
        configured=app.encryption_keys,
        key_file=Path(app.key_file),
        log=app.log,
    )
    store = TokenStore(Path(app.store_path), keys, log=app.log)
    try:
        count = store.rotate_keys()
    finally:
        store.close()
    print(f"re-encrypted {count} stored integration(s) with the first key in {app.store_path}")
    return 0


COMMANDS = {"validate": validate, "list": list_, "rotate-key": rotate_key}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command == "demo":
        from .demo import main as demo

        return demo(rest)
    if command not in COMMANDS:
        print(f"jupyter creds: unknown command {command!r}\n\n{USAGE}", file=sys.stderr)
        return 2
    return COMMANDS[command](rest)


if __name__ == "__main__":
    sys.exit(main())
