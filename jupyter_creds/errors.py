"""Errors raised by the kernel client (:class:`jupyter_creds.Client`).

Every error derives from :class:`CredentialsError`, so one ``except CredentialsError`` catches them
all. :class:`CredentialsError` itself derives from :class:`RuntimeError`, which is what Posit
Workbench's SDK raises, so error handling written for that SDK keeps working after the import
change.

Each message says what happened and what to do. No message ever contains a token or a secret.

Note that :meth:`~jupyter_creds.client.OAuth.get_credentials` does not raise when you are simply not
signed in: it returns ``None``. Only the auth objects (:meth:`~jupyter_creds.client.OAuth.auth`),
which cannot send a request without a token, raise :class:`NotSignedInError`.
"""

from __future__ import annotations

__all__ = [
    "AccessDeniedError",
    "BadRequestError",
    "ConfigurationError",
    "CredentialsError",
    "NotInJupyterError",
    "NotSignedInError",
    "ProviderError",
    "ServerUnreachableError",
    "UnexpectedResponseError",
    "UnknownIntegrationError",
    "error_for_answer",
]


class CredentialsError(RuntimeError):
    """Base class of every error of the kernel client.

    Attributes:
        reason: the server's reason code (``"config_error"``, ``"provider_error"``, ...) when the
            server gave one, else ``None``.
        status: the HTTP status of the server's answer, or ``None`` when there was no answer.
        integration_id: the integration (audience) the request was about, when there was one.
    """

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        status: int | None = None,
        integration_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.status = status
        self.integration_id = integration_id


class NotInJupyterError(CredentialsError):
    """This process was not started by a Jupyter server with jupyter_creds enabled.

    The kernel client finds the server through the ``JUPYTER_CREDS_URL`` and
    ``JUPYTER_CREDS_TOKEN`` environment variables, which the server sets for the kernels it starts.
    """


class ServerUnreachableError(CredentialsError):
    """The Jupyter server could not be reached (stopped, restarted elsewhere, or too slow)."""


class AccessDeniedError(CredentialsError):
    """The Jupyter server refused this kernel's secret (HTTP 401 or 403).

    The secret changes whenever the server restarts; a kernel that outlived its server has a stale
    one. Restart the kernel.
    """


class BadRequestError(CredentialsError):
    """The server rejected the request as malformed (HTTP 400 ``bad_request``).

    Most often the audience is not an integration id (a GUID).
    """


class UnknownIntegrationError(CredentialsError):
    """No integration has that id on the server (HTTP 404 ``unknown_integration``)."""


class NotSignedInError(CredentialsError):
    """You are not signed in to the integration, or must sign in again.

    Raised by the auth objects only: :meth:`~jupyter_creds.client.OAuth.get_credentials` returns
    ``None`` in this case instead.
    """


class ConfigurationError(CredentialsError):
    """The integration is misconfigured on the server (HTTP 409 ``config_error``).

    Only an administrator can fix it; the Available Credentials sidebar shows the reason.
    """


class ProviderError(CredentialsError):
    """The OAuth provider failed and no valid token is left (HTTP 502 ``provider_error``)."""


class UnexpectedResponseError(CredentialsError):
    """The server answered something the REST contract does not describe.

    For example an HTML page instead of JSON, when the jupyter_creds server extension is not
    loaded.
    """


SIDEBAR = "the Available Credentials sidebar in JupyterLab"


def error_for_answer(
    status: int, body: object, url: str | None, integration_id: str | None
) -> CredentialsError:
    """The error for a non-success answer of the REST API: the server's message (already written
    for a person), then what to do about it from a kernel."""
    body = body if isinstance(body, dict) else {}
    reason = body.get("reason")
    said = str(body.get("message") or "").strip()
    said = f"{said if said.endswith('.') else said + '.'} " if said else ""
    about = f"integration {integration_id}" if integration_id else "the integration"
    kwargs: dict = {"reason": reason, "status": status, "integration_id": integration_id}
    if reason in ("not_signed_in", "reauth_required"):
        again = " again" if reason == "reauth_required" else ""
        return NotSignedInError(f"{said}Sign in{again} to {about} from {SIDEBAR}.", **kwargs)
    if reason == "unknown_integration":
        return UnknownIntegrationError(
            f"{said}Copy the integration id from {SIDEBAR}, or list the integrations with "
            "`client.oauth.integrations.find()`.",
            **kwargs,
        )
    if reason == "config_error":
        return ConfigurationError(
            f"{said}Only an administrator can fix the configuration of {about}; {SIDEBAR} shows "
            "the details.",
            **kwargs,
        )
    if reason == "provider_error":
        return ProviderError(
            f"{said}The OAuth provider of {about} failed: try again in a moment; if it keeps "
            f"failing, sign out and sign in again from {SIDEBAR}.",
            **kwargs,
        )
    if status == 400:
        return BadRequestError(
            f"{said}The audience must be an integration id, a GUID such as "
            f"3f0c6a52-1c34-4a59-9d38-9f0c1b3e2a11, as shown in {SIDEBAR}.",
            **kwargs,
        )
    if status in (401, 403):
        return AccessDeniedError(
            f"{said}The Jupyter server at {url} refused this kernel's secret (HTTP {status}). "
            "The secret changes whenever the server restarts: restart this kernel.",
            **kwargs,
        )
    return UnexpectedResponseError(
        f"{said}Unexpected answer from the Jupyter server at {url} (HTTP {status}). Check that "
        "`jupyter server extension list` shows jupyter_creds as OK, and see the server's log.",
        **kwargs,
    )
