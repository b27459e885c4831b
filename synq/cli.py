"""The `synq` command line: compile, check, --version.

Exit status: 0 ok, 1 compile error (rendered, no traceback), 2 bad usage.
"""
from __future__ import annotations

import sys
from pathlib import Path

import click

from synq.compiler import OUTPUT_FORMATS, CompilerData
from synq.errors import InternalCompilerError, SynqUserError
from synq.version import __version__

EXTENSIONS = {"abi": "abi.json", "bin": "bin", "bin-runtime": "bin-runtime", "asm": "asm", "json": "json",
              "ir": "ir", "source-map": "srcmap.json", "layout": "layout.json"}


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise click.UsageError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise click.UsageError(f"cannot read {path}: {exc.strerror}") from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="synq", message="%(prog)s %(version)s")
def cli() -> None:
    """SynQ: the AIVM contract language compiler."""


def _formats(values: tuple[str, ...], out_dir: str | None) -> list[str]:
    """-f abi -f bin, or -f abi,bin; default: ABI and bytecode into -o DIR, bytecode on stdout."""
    wanted = [f.strip() for v in values for f in v.split(",") if f.strip()]
    unknown = [f for f in wanted if f not in OUTPUT_FORMATS]
    if unknown:
        raise click.BadParameter(f"unknown format {unknown[0]!r}; choose from {', '.join(OUTPUT_FORMATS)}",
                                 param_hint="--format")
    return list(dict.fromkeys(wanted)) or (["abi", "bin"] if out_dir else ["bin"])


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("-o", "--output-dir", "out_dir", type=click.Path(file_okay=False), default=None,
              help="write one file per input and format here (default formats: abi and bin) instead of stdout")
@click.option("-f", "--format", "fmts", multiple=True, metavar="FORMAT[,FORMAT…]",
              help=f"what to output, repeatable or comma-separated: {', '.join(OUTPUT_FORMATS)} "
                   "(default: bin on stdout; abi,bin with -o)")
@click.option("-O", "--optimize", type=click.IntRange(0, 1), default=1, show_default=True)
def compile(files: tuple[str, ...], out_dir: str | None, fmts: tuple[str, ...], optimize: int) -> None:
    """Compile FILE... and print (or write) the chosen outputs."""
    formats = _formats(fmts, out_dir)
    failed = False
    for path in files:
        data = CompilerData(_read(path), path, optimize)
        try:
            texts = {fmt: OUTPUT_FORMATS[fmt](data) for fmt in formats}
        except SynqUserError as err:
            click.echo(err.render(), err=True)
            failed = True
            continue
        except InternalCompilerError as err:
            click.echo(f"{path}: internal compiler error: {err} (please report this)", err=True)
            failed = True
            continue
        for fmt, text in texts.items():
            if out_dir:
                Path(out_dir).mkdir(parents=True, exist_ok=True)
                target = Path(out_dir) / f"{Path(path).stem}.{EXTENSIONS[fmt]}"
                target.write_text(text + "\n")
                click.echo(f"wrote {target}", err=True)
                continue
            if len(files) > 1 or len(formats) > 1:
                click.echo(f"// {path} ({fmt})")
            click.echo(text)
    if failed:
        sys.exit(1)


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False))
def check(file: str) -> None:
    """Parse and check FILE; print errors only."""
    data = CompilerData(_read(file), file)
    try:
        data.analysis
    except SynqUserError as err:
        click.echo(err.render(), err=True)
        sys.exit(1)
    except InternalCompilerError as err:
        click.echo(f"{file}: internal compiler error: {err} (please report this)", err=True)
        sys.exit(1)


def main() -> None:
    cli(prog_name="synq")


if __name__ == "__main__":
    main()
