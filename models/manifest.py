"""Shard manifests: which files make up a model, their sha256, and one root that names the whole set.

A manifest is plain JSON-serialisable data (``Manifest.to_dict``) so the node can register it on
chain and validators can attest to it. The root is

    root = sha256( shard_0.sha256 || shard_1.sha256 || ... )   (32-byte raw digests, manifest order)

so it changes if any shard's content or the shard order changes; ``verify_shard`` re-hashes a local
file and refuses it (``ShardIntegrityError``) when it differs from what the manifest says.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .errors import ShardIntegrityError, UnknownModelError

FORMAT = "aivm.model-manifest/1"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Shard:
    """One file of a model. ``stage`` is the pipeline stage it serves (None: used by the driver, e.g. the tokenizer)."""

    name: str
    sha256: str
    size: int
    stage: int | None = None
    role: str = "weights"
    layers: tuple[int, int] | None = None  # [first, last) decoder layers held by a pipeline stage


@dataclass(frozen=True)
class Manifest:
    """Everything a node registers about one model version."""

    model_id: str
    version: str
    architecture: str
    input_kind: str
    output_kind: str
    gas_price: int
    num_stages: int
    shards: tuple[Shard, ...]
    extra: dict = field(default_factory=dict)

    @property
    def root(self) -> str:
        return manifest_root(self.shards)

    def shard(self, name: str) -> Shard:
        for shard in self.shards:
            if shard.name == name:
                return shard
        raise UnknownModelError(f"{self.model_id} v{self.version} has no shard named {name!r}")

    def stage_shard(self, stage: int | None) -> Shard:
        """The weights of pipeline stage ``stage`` (``None``: the only stage of an unsharded model)."""
        if stage is None and self.num_stages == 1:
            stage = 0
        for shard in self.shards:
            if shard.stage == stage and shard.role == "weights":
                return shard
        raise UnknownModelError(f"{self.model_id} v{self.version} has no stage {stage} (it has {self.num_stages})")

    def to_dict(self) -> dict:
        data = asdict(self)
        data["shards"] = [_shard_dict(s) for s in self.shards]
        return {"format": FORMAT, **data, "root": self.root}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict) -> "Manifest":
        if data.get("format") != FORMAT:
            raise ShardIntegrityError(f"manifest format {data.get('format')!r} is not {FORMAT!r}")
        shards = tuple(
            Shard(**{**s, "layers": tuple(s["layers"]) if s.get("layers") is not None else None})
            for s in data["shards"]
        )
        fields = {k: data[k] for k in cls.__dataclass_fields__ if k != "shards" and k in data}
        manifest = cls(shards=shards, **fields)
        if "root" in data and data["root"] != manifest.root:
            raise ShardIntegrityError(
                f"manifest root {data['root']} of {manifest.model_id} does not match its shards ({manifest.root})"
            )
        return manifest

    @classmethod
    def load(cls, path: Path) -> "Manifest":
        return cls.from_dict(json.loads(Path(path).read_text()))

    def save(self, path: Path) -> None:
        Path(path).write_text(self.to_json() + "\n")


def _shard_dict(shard: Shard) -> dict:
    data = asdict(shard)
    data["layers"] = list(shard.layers) if shard.layers is not None else None
    return data


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def manifest_root(shards) -> str:
    """sha256 over the ordered raw shard digests (see module docstring)."""
    return hashlib.sha256(b"".join(bytes.fromhex(s.sha256) for s in shards)).hexdigest()


def describe_file(path: Path, **kwargs) -> Shard:
    """Build the ``Shard`` entry for a file on disk."""
    path = Path(path)
    return Shard(name=path.name, sha256=sha256_file(path), size=path.stat().st_size, **kwargs)


def verify_shard(path: Path, manifest: Manifest, name: str | None = None) -> Shard:
    """Check ``path`` against the manifest entry ``name`` (default: the file's name).

    Returns the entry; raises ``ShardIntegrityError`` if the file is missing, has another size, or
    another sha256 — a tampered or corrupted shard is never loaded.
    """
    path = Path(path)
    entry = manifest.shard(name or path.name)
    where = f"shard {entry.name!r} of {manifest.model_id} v{manifest.version}"
    if not path.is_file():
        raise ShardIntegrityError(f"{where} is missing at {path}")
    size = path.stat().st_size
    if size != entry.size:
        raise ShardIntegrityError(f"{where} has {size} bytes, manifest says {entry.size}: refusing to load {path}")
    actual = sha256_file(path)
    if actual != entry.sha256:
        raise ShardIntegrityError(
            f"{where} has sha256 {actual}, manifest says {entry.sha256}: refusing to load tampered shard {path}"
        )
    return entry
