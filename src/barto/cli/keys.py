"""``barto-cli keygen`` and ``barto-cli certs``: the keys and certificates of a fleet, made
locally (no server needed). See docs/security.md."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from barto.typer_flags import app as typer_app

if TYPE_CHECKING:
    from types import ModuleType

Directory = Annotated[Path, typer.Option("--dir", "-d", help="Where the CA and certificates live.")]
Days = Annotated[int | None, typer.Option("--days", min=1, help="Validity in days.")]

certs = typer_app(help="Make a small CA and certificates for TLS and mTLS.", no_args_is_help=True)


def keygen() -> None:
    """Print a new Ed25519 key pair in barto's format: signing_key goes in bartos.toml,
    server_public_key in every bartoc.toml; both sides log the fingerprint at start-up."""
    from barto.protocol.keys import encode_key, fingerprint, new_seed  # cryptography: only here
    from barto.protocol.signing import public_key

    seed = new_seed()
    public = public_key(seed)
    print(f'signing_key = "{encode_key(seed)}"        # bartos.toml: keep it secret')
    print(f'server_public_key = "{encode_key(public)}"  # bartoc.toml')
    print(f"# fingerprint {fingerprint(public)}")


@certs.command("init")
def init(directory: Directory = Path("barto-pki"), days: Days = None) -> None:
    """Create the CA: ca.pem (give it to every client and server) and ca-key.pem (keep it safe)."""
    _report(lambda pki: pki.init(directory, days=days or pki.CA_DAYS))


@certs.command("server")
def server(
    name: Annotated[str, typer.Argument(help="The server's host name (first SAN and common name).")],
    san: Annotated[list[str] | None, typer.Option("--san", help="Another host name or IP it is reached by.")] = None,
    directory: Directory = Path("barto-pki"),
    days: Days = None,
) -> None:
    """A certificate for bartos ([actix.tls] cert_file_path / key_file_path)."""
    _report(lambda pki: pki.server(directory, name, san or [], days=days or pki.LEAF_DAYS))


@certs.command("client")
def client(
    name: Annotated[str, typer.Argument(help="The worker's name (bartoc `name`), or an operator's.")],
    directory: Directory = Path("barto-pki"),
    days: Days = None,
) -> None:
    """A client certificate for mTLS ([bartos] client_cert / client_key)."""
    _report(lambda pki: pki.client(directory, name, days=days or pki.LEAF_DAYS))


def _report(make: Callable[[ModuleType], Any]) -> None:
    """Make a key and certificate with barto.cli.pki (cryptography is imported for these commands only)."""
    from barto.cli import pki

    try:
        issued = make(pki)
    except pki.PkiError as error:
        typer.echo(f"barto-cli: error: {error}", err=True)
        raise typer.Exit(1) from None
    print(f"wrote {issued.cert} and {issued.key} (mode 0600)")


def register(app: typer.Typer) -> None:
    """Add ``keygen`` and ``certs`` to ``app``."""
    app.command("keygen")(keygen)
    app.add_typer(certs, name="certs")
