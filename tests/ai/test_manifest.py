"""Manifests and the tensor byte format: plain data, stable roots, tampering refused."""
import hashlib
import json

import pytest
import torch

from models import InvalidInputError, Manifest, ShardIntegrityError, decode_tensor, encode_tensor, verify_shard
from models.manifest import describe_file, manifest_root


@pytest.fixture
def manifest(tmp_path):
    for i in range(3):
        (tmp_path / f"stage{i}.bin").write_bytes(bytes([i]) * (100 + i))
    shards = tuple(describe_file(tmp_path / f"stage{i}.bin", stage=i, layers=(i, i + 1)) for i in range(3))
    return Manifest("m", "1", "arch", "in", "out", 10, 3, shards, {"note": "x"})


def test_root_is_sha256_over_ordered_shard_digests(manifest):
    expected = hashlib.sha256(b"".join(bytes.fromhex(s.sha256) for s in manifest.shards)).hexdigest()
    assert manifest.root == expected == manifest_root(manifest.shards)
    swapped = manifest_root((manifest.shards[1], manifest.shards[0], manifest.shards[2]))
    assert swapped != manifest.root


def test_manifest_is_plain_json_and_round_trips(manifest):
    data = json.loads(json.dumps(manifest.to_dict()))
    assert data["format"] == "aivm.model-manifest/1" and data["root"] == manifest.root
    assert Manifest.from_dict(data) == manifest


def test_manifest_with_wrong_root_is_refused(manifest):
    data = manifest.to_dict()
    data["shards"][1]["sha256"] = "00" * 32
    with pytest.raises(ShardIntegrityError, match="does not match its shards"):
        Manifest.from_dict(data)


def test_verify_shard_accepts_the_file_and_refuses_tampering(manifest, tmp_path):
    path = tmp_path / "stage1.bin"
    assert verify_shard(path, manifest).stage == 1
    path.write_bytes(b"\x09" + path.read_bytes()[1:])  # same size, one byte changed
    with pytest.raises(ShardIntegrityError, match=r"sha256 .* refusing to load tampered shard"):
        verify_shard(path, manifest)
    path.write_bytes(b"short")
    with pytest.raises(ShardIntegrityError, match="has 5 bytes"):
        verify_shard(path, manifest)
    path.unlink()
    with pytest.raises(ShardIntegrityError, match="is missing"):
        verify_shard(path, manifest)


@pytest.mark.parametrize("tensor", [
    torch.randn(1, 3, 4), torch.arange(7).reshape(1, 7), torch.randn(5).half(),
    torch.randn(2, 2).bfloat16(), torch.tensor(1.5), torch.zeros(1, 0, 576),
])
def test_tensor_bytes_round_trip(tensor):
    data = encode_tensor(tensor)
    assert data[:4] == b"AIVT"
    back = decode_tensor(data)
    assert back.dtype == tensor.dtype and back.shape == tensor.shape and torch.equal(back, tensor)


def test_tensor_layout_is_documented_little_endian():
    assert encode_tensor(torch.tensor([[1, 2]], dtype=torch.int64)) == (
        b"AIVT\x01\x02\x02\x00" + (1).to_bytes(4, "little") + (2).to_bytes(4, "little")
        + (1).to_bytes(8, "little") + (2).to_bytes(8, "little"))


@pytest.mark.parametrize("data, message", [
    (b"NOPE\x01\x01\x00\x00", "magic"),
    (b"AIVT\x02\x01\x00\x00", "version"),
    (b"AIVT\x01\x09\x00\x00", "dtype code"),
    (encode_tensor(torch.zeros(2, 2)) + b"\x00", "body has"),
    (encode_tensor(torch.zeros(2, 2))[:-1], "body has"),
])
def test_malformed_tensor_bytes_are_refused(data, message):
    with pytest.raises(InvalidInputError, match=message):
        decode_tensor(data)
