"""The service objects the handlers use, built once per server by the extension app."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .credentials import CredentialService
from .oauth import OAuthClient
from .oidc import JwksCache
from .registry import IntegrationRegistry
from .signin import SignInFlow
from .store import TokenStore


@dataclass
class CredsServices:
    registry: IntegrationRegistry
    store: TokenStore
    oauth: OAuthClient
    signin: SignInFlow
    credentials: CredentialService
    kernel_secret: str
    redirect_uri: Callable[[], str]

    @classmethod
    def build(
        cls,
        *,
        configured: Sequence[Mapping[str, Any]],
        integrations_file: str | None,
        store_path: Path,
        keys: Sequence[str],
        leeway: float,
        http_timeout: float,
        retry_interval: float,
        kernel_secret: str,
        redirect_uri: Callable[[], str],
        log: logging.Logger,
        environ: Mapping[str, str] | None = None,
    ) -> CredsServices:
        oauth = OAuthClient(timeout=http_timeout, log=log)
        registry = IntegrationRegistry(
            configured=configured,
            file=integrations_file,
            oauth=oauth,
            log=log,
            retry_interval=retry_interval,
            environ=environ,
        )
        store = TokenStore(store_path, keys, log=log)
        return cls(
            registry=registry,
            store=store,
            oauth=oauth,
            signin=SignInFlow(
                registry=registry, store=store, oauth=oauth, jwks=JwksCache(oauth), log=log
            ),
            credentials=CredentialService(
                registry=registry, store=store, oauth=oauth, log=log, leeway=leeway
            ),
            kernel_secret=kernel_secret,
            redirect_uri=redirect_uri,
        )

    async def close(self) -> None:
        await self.credentials.drain()
        await self.oauth.aclose()
        self.store.close()
