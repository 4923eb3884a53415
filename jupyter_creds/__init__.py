"""Available Credentials for Jupyter.

``from jupyter_creds import Client`` is all a notebook needs; everything server-side is imported
only by the Jupyter server, so that importing this package in a kernel stays cheap.
"""

from __future__ import annotations

from typing import Any

from ._version import __version__

__all__ = ["Client", "__version__"]

_LAZY = {
    "Client": "jupyter_creds.client",
    "CredentialsError": "jupyter_creds.errors",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None and name.endswith("Error"):
        module = "jupyter_creds.errors"
    if module is None:
        raise AttributeError(f"module 'jupyter_creds' has no attribute {name!r}")
    import importlib

    try:
        return getattr(importlib.import_module(module), name)
    except AttributeError:
        raise AttributeError(f"module 'jupyter_creds' has no attribute {name!r}") from None


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext jupyter_creds``: register the ``%credentials`` magic."""
    from .magic import load_ipython_extension as load

    load(ipython)


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from .app import CredsApp

    return [{"module": "jupyter_creds", "app": CredsApp}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "jupyter-creds"}]
