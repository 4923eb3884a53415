"""A local OpenID Connect provider built on authlib's authorization server.

``jupyter creds demo`` runs it next to JupyterLab, and the test suite uses it as the real
OAuth provider over HTTP on loopback::

    from jupyter_creds.provider import EmbeddedProvider, ProviderClient

    client = ProviderClient("lab", "s3cret", redirect_uris=["http://127.0.0.1/cb"])
    with EmbeddedProvider(clients=[client]).start() as provider:
        print(provider.issuer)
"""

from .embedded import EmbeddedProvider
from .models import ProviderClient

__all__ = ["EmbeddedProvider", "ProviderClient"]
