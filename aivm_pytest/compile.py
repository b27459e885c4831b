"""Turn what a test hands to `deploy()` into an Artifact: ABI, init code, and (for SynQ) a source map.

This is the one place that knows about compilers. It accepts a `.synq` / `.vy` / `.json`
path, SynQ source text, an ABI + bytecode dict (Solidity, Vyper, Foundry or Hardhat
artifacts), or a compiler output object with `.abi` and `.bytecode`.

SynQ compiles are cached by (source, compiler fingerprint), in memory and, when the
plugin gives a cache folder, on disk: a large contract can take seconds to compile,
and tests deploy the same source again and again. Vyper compiles are cached in memory
and in the user's cache folder (`~/.cache/aivm/vyper`, by vyper version and source).
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional


@dataclass(frozen=True)
class Artifact:
    name: str
    abi: list[dict]
    bytecode: bytes
    source: str = ""
    path: str = ""
    # "runtime" / "init": {pc: [line, col, end_line, end_col]}, SynQ only
    source_map: dict = field(default_factory=dict)


_memory: dict[str, Artifact] = {}


def load(obj: Any, name: Optional[str] = None, cache_dir: Optional[Path] = None,
         search: tuple[Path, ...] = ()) -> Artifact:
    """An Artifact from a path, SynQ source, an ABI+bytecode dict, or a compiler output."""
    if isinstance(obj, Artifact):
        return obj
    if isinstance(obj, dict):
        return _from_dict(obj, name)
    if hasattr(obj, "abi") and hasattr(obj, "bytecode"):
        return _from_output(obj, name or "Contract", getattr(obj, "path", ""), "")
    if isinstance(obj, (str, Path)):
        path = _as_path(obj, search)
        if path is not None:
            return _from_file(path, name, cache_dir)
        if isinstance(obj, str):
            return compile_synq(obj, name or "Contract", "<source>", cache_dir)
    raise TypeError(f"deploy() takes a path, SynQ source, an ABI+bytecode dict or a compiler output, not {type(obj).__name__}")


def _as_path(obj: Any, search: tuple[Path, ...]) -> Optional[Path]:
    text = str(obj)
    if "\n" in text or len(text) > 4096 or not text.endswith((".synq", ".vy", ".json")):
        if isinstance(obj, Path):
            raise ValueError(f"deploy() reads .synq, .vy or .json files, not {obj}")
        return None
    p = Path(text)
    if p.is_file():  # relative to the working directory: keep it short in error messages
        return p
    for base in search:
        if (base / p).is_file():
            return base / p
    raise FileNotFoundError(f"no contract file {text!r} (looked in {', '.join(str(b) for b in (Path.cwd(), *search))})")


def _from_file(path: Path, name: Optional[str], cache_dir: Optional[Path]) -> Artifact:
    text = path.read_text()
    name = name or path.stem
    if path.suffix == ".synq":
        return compile_synq(text, name, str(path), cache_dir)
    if path.suffix == ".vy":
        return compile_vyper(text, name, str(path))
    return _from_dict(json.loads(text), name, str(path))


def _from_dict(d: dict, name: Optional[str], path: str = "") -> Artifact:
    if "abi" not in d or not any(k in d for k in ("bytecode", "bin")):
        raise ValueError("an artifact dict needs 'abi' and 'bytecode'")
    code = d.get("bytecode", d.get("bin"))
    if isinstance(code, dict):  # Foundry: {"object": "0x..."}; solc standard JSON: evm.bytecode
        code = code.get("object", "")
    return Artifact(name or d.get("contractName", "Contract"), list(d["abi"]), _bytes(code), path=path)


def _from_output(out: Any, name: str, path: str, source: str) -> Artifact:
    smap = getattr(out, "source_map", None) or {}
    return Artifact(name, list(out.abi), _bytes(out.bytecode), source, path, smap)


def _bytes(code: Any) -> bytes:
    if isinstance(code, (bytes, bytearray)):
        return bytes(code)
    return bytes.fromhex(str(code).removeprefix("0x"))


def compile_synq(source: str, name: str, path: str, cache_dir: Optional[Path] = None) -> Artifact:
    """Compile SynQ (memory cache, then disk cache); SynqUserError propagates, rendered."""
    key = hashlib.sha256(f"{_synq_fingerprint()}\0{path}\0{source}".encode()).hexdigest()
    if key in _memory:
        return replace(_memory[key], name=name)
    disk = cache_dir / f"{key}.json" if cache_dir else None
    if disk is not None and disk.is_file():
        d = json.loads(disk.read_text())
        art = Artifact(name, d["abi"], bytes.fromhex(d["bytecode"]), source, path, d["source_map"])
    else:
        art = _from_output(_synq_outputs(source, path), name, path, source)
        if disk is not None:
            disk.parent.mkdir(parents=True, exist_ok=True)
            disk.write_text(json.dumps({"abi": art.abi, "bytecode": art.bytecode.hex(),
                                        "source_map": art.source_map}))
    _memory[key] = art
    return art


def _synq_outputs(source: str, path: str) -> Any:
    """Only the outputs deploy needs (abi, bytecode, source_map). `CompilerData` computes each
    phase lazily; `compile_source` also renders the IR and assembly text, which costs far more
    than compiling (1.3 s vs 34 s for contracts/ERC20.synq at the time of writing)."""
    import synq

    data = getattr(synq, "CompilerData", None)
    return data(source, path) if data is not None else synq.compile_source(source, path=path)


@lru_cache(maxsize=None)
def _synq_fingerprint() -> str:
    """A hash of the compiler's own files: SynQ changes daily under one version number."""
    import synq

    h = hashlib.sha256(synq.__version__.encode())
    root = Path(synq.__file__).parent
    for f in sorted(root.rglob("*")):
        if f.suffix in (".py", ".lark") and f.is_file():
            h.update(f.relative_to(root).as_posix().encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:16]


@lru_cache(maxsize=64)
def _vyper(source: str) -> tuple[str, str]:
    """Vyper's abi and bytecode: in memory, then on disk by (vyper version, source) as titanoboa
    does (`~/.cache/aivm/vyper`): a Vyper compile costs ≈0.3 s a contract, every session."""
    from importlib.metadata import version

    key = hashlib.sha256(f"vyper {version('vyper')}\0{source}".encode()).hexdigest()
    disk = _user_cache() / "vyper" / f"{key}.json"
    try:
        d = json.loads(disk.read_text())
        return json.dumps(d["abi"]), d["bytecode"]
    except (OSError, ValueError, KeyError):
        pass
    import vyper

    out = vyper.compile_code(source, output_formats=["abi", "bytecode"])
    try:
        disk.parent.mkdir(parents=True, exist_ok=True)
        tmp = disk.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"abi": out["abi"], "bytecode": out["bytecode"]}))
        tmp.replace(disk)  # atomic: parallel sessions never read half a file
    except OSError:
        pass  # a read-only home: compile every session
    return json.dumps(out["abi"]), out["bytecode"]


def _user_cache() -> Path:
    base = os.environ.get("AIVM_CACHE_DIR")
    if base:
        return Path(base)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "aivm"


def compile_vyper(source: str, name: str, path: str = "") -> Artifact:
    abi, code = _vyper(source)
    return Artifact(name, json.loads(abi), _bytes(code), source, path)
