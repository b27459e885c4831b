"""`aivm keys`: create, inspect and rotate PQC validator keystores.

The password comes from --password-file, else $AIVM_PASSWORD, else a prompt.
Errors print one line and exit 1 without a traceback; a failed command never
modifies the keystore. Secrets are never printed.
"""
from __future__ import annotations

import functools
import json
import os
from pathlib import Path

import click

from pqc import keystore
from pqc.errors import PQCError
from pqc.keys import KeySet
from pqc.levels import SecurityLevel

LEVELS = [level.title for level in SecurityLevel]


def _password(password_file: str | None, *, confirm: bool) -> str:
    if password_file:
        try:
            text = Path(password_file).read_text()
        except OSError as exc:
            raise click.ClickException(f"cannot read password file: {exc.strerror}") from None
        password = text.splitlines()[0] if text else ""
    elif "AIVM_PASSWORD" in os.environ:
        password = os.environ["AIVM_PASSWORD"]
    else:
        password = click.prompt("Keystore password", hide_input=True,
                                confirmation_prompt=confirm)
    if not password:
        raise click.ClickException("empty password")
    return password


def _fail_cleanly(fn):
    """Turn PQC errors into `Error: reason` and exit status 1."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except PQCError as exc:
            raise click.ClickException(exc.reason) from None
    return wrapper


password_option = click.option(
    "--password-file", type=click.Path(dir_okay=False),
    help="Read the password from the first line of this file (else $AIVM_PASSWORD, else prompt).",
)


@click.group("keys")
def keys() -> None:
    """Post-quantum validator keys (password-protected keystores)."""


@keys.command("new")
@click.option("--level", "level", type=click.Choice(LEVELS, case_sensitive=False),
              default="Enhanced", show_default=True, help="Security level of the key set.")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False),
              help="Keystore file to write (must not exist).")
@password_option
@_fail_cleanly
def new(level: str, out: str, password_file: str | None) -> None:
    """Generate a key set for LEVEL and write it to a new keystore."""
    if Path(out).exists():
        raise click.ClickException(f"{out} already exists; refusing to overwrite")
    password = _password(password_file, confirm=True)
    store = keystore.create(KeySet.generate(level), password)
    keystore.save(store, out)
    click.echo(f"wrote {out}: {store.level.title} keys, key hash 0x{store.key_hash.hex()}")
    return store.summary()  # the application prints what the keys are for (aivm: the validator address)


@keys.command("show")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print JSON (includes the signing-key bundle).")
@_fail_cleanly
def show(file: str, as_json: bool) -> None:
    """Print a keystore's public keys (no password needed)."""
    summary = keystore.load(file).summary()
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return None
    rows = [("level", summary["level"]), ("key hash", summary["key_hash"]),
            ("signing", ", ".join(summary["signing"])), ("kem", ", ".join(summary["kem"]) or "none"),
            ("address", summary["address"] or "none"), ("created", summary["created"]),
            ("rotated from", summary["rotated_from"] or "-")]
    for name, value in rows:
        click.echo(f"{name:>13}: {value}")
    return summary


@keys.command("rotate")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--level", "level", type=click.Choice(LEVELS, case_sensitive=False), default=None,
              help="Level of the new keys (default: keep the current level).")
@password_option
@_fail_cleanly
def rotate(file: str, level: str | None, password_file: str | None) -> None:
    """Replace the keys in FILE with new ones signed over by the old ones.

    The old keystore is kept next to it as FILE.<old key hash>.old.
    """
    old = keystore.load(file)
    password = _password(password_file, confirm=False)
    new_store, _ = keystore.rotate(old, password, level)
    backup = Path(f"{file}.{old.key_hash.hex()[:12]}.old")
    keystore.save(old, backup, overwrite=True)
    keystore.save(new_store, file, overwrite=True)
    click.echo(f"rotated {file}: key hash 0x{old.key_hash.hex()} -> 0x{new_store.key_hash.hex()}"
               f" (old keystore kept as {backup})")
