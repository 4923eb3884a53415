"""The ``%credentials`` line magic: ``%load_ext jupyter_creds`` registers it.

Importing this module stays cheap (IPython is already loaded in a kernel, the kernel client and
``views`` use the standard library only); ipywidgets is imported when the panel is shown.
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from IPython.display import display

from .errors import CredentialsError
from .views import IntegrationTable, SignInLink, fetch_snippet

if TYPE_CHECKING:
    from IPython.core.interactiveshell import InteractiveShell

    from .client import Client

__all__ = ["CredentialsMagics", "find_integration", "load_ipython_extension"]

COMMANDS = ("list", "snippet", "signin", "signout")
NEEDS_INTEGRATION = ("snippet", "signin", "signout")


def find_integration(integrations: list[dict[str, Any]], text: str) -> dict[str, Any]:
    """The integration whose id, name or display name is ``text`` (case-insensitive).

    An id wins over a name, a name over a display name. Raises :class:`UsageError` naming close
    matches when nothing matches, or the candidates when several do.
    """
    wanted = text.strip().casefold()
    for field in ("id", "name", "display_name"):
        hits = [i for i in integrations if str(i.get(field) or "").casefold() == wanted]
        if len(hits) == 1:
            return hits[0]
        if hits:
            ids = ", ".join(f"{i.get('display_name')} ({i.get('id')})" for i in hits)
            raise UsageError(f"{text!r} matches several integrations: {ids}. Use the id instead.")
    names: dict[str, str] = {}
    for integration in integrations:
        for field in ("name", "display_name"):
            value = str(integration.get(field) or "")
            if value:
                names.setdefault(value.casefold(), str(integration.get("name") or value))
    close = difflib.get_close_matches(wanted, list(names), n=3, cutoff=0.5)
    suggestions = list(dict.fromkeys(names[c] for c in close))
    if suggestions:
        hint = f"Did you mean: {', '.join(suggestions)}?"
    elif integrations:
        hint = f"The integrations are: {', '.join(str(i.get('name')) for i in integrations)}."
    else:
        hint = "No integrations are configured on this Jupyter server."
    raise UsageError(f"No integration is called {text!r}. {hint} (See %credentials list.)")


@magics_class
class CredentialsMagics(Magics):
    """The ``%credentials`` magic; shares one kernel client between calls."""

    def __init__(self, shell: InteractiveShell | None = None, client: Client | None = None) -> None:
        super().__init__(shell)
        self._client = client

    @property
    def client(self) -> Client:
        # Created on first use, so that the environment variables are read when they are needed.
        if self._client is None:
            from .client import Client

            self._client = Client()
        return self._client

    @magic_arguments()
    @argument(
        "command",
        nargs="?",
        metavar="COMMAND",
        help="list, snippet, signin or signout; none shows the panel",
    )
    @argument(
        "integration",
        nargs="*",
        metavar="NAME_OR_ID",
        help="the integration's id, name or display name (any case; quotes optional)",
    )
    @argument(
        "-l",
        "--language",
        default="python",
        help="snippet language: python (default) or r",
    )
    @argument(
        "--interval",
        type=float,
        metavar="SECONDS",
        help="panel only: refresh every SECONDS while the panel is on screen (default 30; 0: off)",
    )
    @argument("-h", "--help", action="store_true", help="show this help")
    @line_magic
    def credentials(self, line: str = "") -> None:
        """Available Credentials: the OAuth integrations your administrator configured.

        %credentials                      show the panel: status, sign in / out, details, snippets
        %credentials --interval 10        the panel, refreshing every 10 s while on screen
        %credentials list                 a table of name, status, id, account and expiry
        %credentials snippet NAME_OR_ID   put the code that gets the token into the next cell
        %credentials snippet NAME --language r
        %credentials signin NAME_OR_ID    a link that opens the provider's sign-in page
        %credentials signout NAME_OR_ID   sign out (the server forgets and revokes the tokens)

        The panel refreshes itself while it is on screen and the browser tab is visible, and at
        once when a sign-in completes. The kernel does the refresh: while a cell is running, the
        refresh (and any click in the panel) waits until the cell finishes.

        Nothing here ever shows a token: get one in your code with the snippet.
        """
        args = parse_argstring(self.credentials, line)
        # IPython splits like a shell but keeps quotes: `signin "Demo Analytics"` and
        # `signin Demo Analytics` both name one integration.
        integration = " ".join(args.integration).strip()
        if len(integration) > 1 and integration[0] == integration[-1] and integration[0] in "'\"":
            integration = integration[1:-1].strip()
        if args.help:
            print(self.credentials.parser.format_help())
            return
        command = (args.command or "").lower() or None
        if command is not None and command not in COMMANDS:
            raise UsageError(
                f"Unknown command {args.command!r}: use one of {', '.join(COMMANDS)}, or no "
                "command to show the panel (%credentials --help)."
            )
        if command in NEEDS_INTEGRATION and not integration:
            raise UsageError(f"%credentials {command} needs an integration: NAME_OR_ID.")
        if command not in NEEDS_INTEGRATION and integration:
            raise UsageError(f"Unexpected argument {integration!r} (%credentials --help).")
        language = args.language.lower()
        if language not in ("python", "r"):
            raise UsageError(f"Unknown snippet language {args.language!r}: use python or r.")
        if args.interval is not None and command is not None:
            raise UsageError("--interval applies to the panel: %credentials --interval SECONDS.")
        try:
            if command is None:
                self._panel(args.interval)
            elif command == "list":
                display(IntegrationTable(self.client.oauth.integrations.find()))
            else:
                found = find_integration(self.client.oauth.integrations.find(), integration)
                getattr(self, f"_{command}")(found, language)
        except CredentialsError as exc:
            # The client's messages are written for people and never hold a secret.
            raise UsageError(str(exc)) from None

    def _panel(self, interval: float | None) -> None:
        from .widget import CredentialsPanel

        kwargs = {} if interval is None else {"interval": interval}
        try:
            panel = CredentialsPanel(client=self.client, **kwargs)
        except ValueError as exc:  # a bad interval
            raise UsageError(str(exc)) from None
        display(panel)

    def _snippet(self, integration: dict[str, Any], language: str) -> None:
        snippet = fetch_snippet(self.client, integration["id"], language)
        self.shell.set_next_input(snippet["code"], replace=False)

    def _signin(self, integration: dict[str, Any], language: str) -> None:
        url = self.client.oauth.sign_in(integration["id"])
        account = (
            integration.get("account") if integration.get("status") == "authenticated" else None
        )
        display(
            SignInLink(
                str(integration.get("display_name") or integration["name"]), url, account=account
            )
        )

    def _signout(self, integration: dict[str, Any], language: str) -> None:
        name = integration.get("display_name") or integration["name"]
        was_signed_in = integration.get("status") == "authenticated"
        self.client.oauth.sign_out(integration["id"])
        print(f"Signed out of {name}." if was_signed_in else f"You were not signed in to {name}.")


def load_ipython_extension(ipython: InteractiveShell) -> None:
    """``%load_ext jupyter_creds``: register ``%credentials``."""
    ipython.register_magics(CredentialsMagics)
