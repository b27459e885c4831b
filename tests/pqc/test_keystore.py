"""Keystore files and `aivm keys`: public parts readable, secrets sealed, failures harmless."""
from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner

from pqc import keystore
from pqc.cli import keys as keys_cli
from pqc.errors import KeystoreError
from pqc.keys import KeySet

FAST_N = 2**12  # scrypt cost for tests; files carry their own n, the default stays 2**17


@pytest.fixture(autouse=True)
def fast_kdf(monkeypatch):
    monkeypatch.setattr(keystore, "DEFAULT_SCRYPT_N", FAST_N)


@pytest.fixture(scope="module")
def enhanced():
    return KeySet.generate("Enhanced")


def test_round_trip_and_public_without_password(enhanced, tmp_path):
    path = tmp_path / "k.json"
    keystore.save(keystore.create(enhanced, "pw"), path)
    store = keystore.load(path)
    assert store.signing_keys == enhanced.signing_keys() and store.kem_keys == enhanced.kem_keys()
    assert store.unlock("pw") == enhanced
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    blobs = _decoded_blobs(json.loads(path.read_text()))
    for _, _, sk in (*enhanced.signing, *enhanced.kem):
        secret_tail = sk[-16:]  # secret-only bytes (ML-DSA and ML-KEM secret keys embed public parts)
        assert not any(secret_tail in blob for blob in blobs)


def _decoded_blobs(doc) -> list[bytes]:
    """Every string in the document, raw and base64/hex-decoded where that works."""
    import base64
    import binascii

    out = []
    stack = [doc]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, str):
            out.append(item.encode())
            for decode in (base64.b64decode, bytes.fromhex):
                try:
                    out.append(decode(item))
                except (binascii.Error, ValueError):
                    pass
    return out


def test_wrong_password(enhanced):
    with pytest.raises(KeystoreError, match="wrong password"):
        keystore.create(enhanced, "pw").unlock("Pw")


def _doc(enhanced):
    return json.loads(json.dumps(keystore.create(enhanced, "pw").doc))


def _reseal(doc):
    """Recompute the checksum, as an attacker editing the file would."""
    import hashlib

    body = {k: v for k, v in doc.items() if k != "checksum"}
    doc["checksum"] = hashlib.sha256(keystore._canonical(body)).hexdigest()
    return json.dumps(doc)


def test_corruption_is_told_apart_from_a_wrong_password(enhanced):
    doc = _doc(enhanced)
    doc["created"] = "2020-01-01T00:00:00Z"
    with pytest.raises(KeystoreError, match="checksum mismatch"):
        keystore.parse(json.dumps(doc))
    with pytest.raises(KeystoreError, match="altered"):
        keystore.parse(_reseal(doc)).unlock("pw")  # authenticated data changed


def test_swapped_public_keys_are_refused(enhanced):
    other = KeySet.generate("Enhanced", with_kem=False)
    doc = _doc(enhanced)
    import base64

    doc["public"]["signing_keys"] = base64.b64encode(other.signing_keys().encode()).decode()
    with pytest.raises(KeystoreError, match="altered"):
        keystore.parse(_reseal(doc)).unlock("pw")


@pytest.mark.parametrize("edit,match", [
    (lambda d: d.pop("crypto"), "missing field 'crypto'"),
    (lambda d: d["crypto"].update(n=2**30), "outside the accepted range"),
    (lambda d: d["crypto"].update(kdf="pbkdf2"), "unsupported"),
    (lambda d: d.update(level="Military"), "level does not match"),
    (lambda d: d["public"].update(signing_keys="!!!"), "not base64"),
    (lambda d: d["public"].update(signing_keys="AAAA"), "key bundle"),
    (lambda d: d.update(version=2), "unsupported keystore version"),
    (lambda d: d.update(format="x"), "not an AIVM keystore"),
])
def test_malformed_documents(enhanced, edit, match):
    doc = _doc(enhanced)
    edit(doc)
    with pytest.raises(KeystoreError, match=match):
        keystore.parse(_reseal(doc))


def test_not_json():
    with pytest.raises(KeystoreError, match="not valid JSON"):
        keystore.parse(b"\x00\xff garbage")


def test_rotation_is_vouched_for_by_the_old_keys(enhanced):
    old = keystore.create(enhanced, "pw")
    new, new_keys = keystore.rotate(old, "pw")
    assert new.key_hash != old.key_hash and new.unlock("pw") == new_keys
    keystore.verify_rotation(new, enhanced.signing_keys())
    with pytest.raises(KeystoreError, match="not rotated from these keys"):
        keystore.verify_rotation(new, KeySet.generate("Enhanced", with_kem=False).signing_keys())


# -- the CLI --

def run(args, env=None, input=None):
    return CliRunner().invoke(keys_cli, args, env=env or {}, input=input)


def test_cli_new_show_rotate(tmp_path):
    path = str(tmp_path / "v.json")
    pwfile = tmp_path / "pw"
    pwfile.write_text("s3cret\n")
    r = run(["new", "--level", "maximum", "--out", path, "--password-file", str(pwfile)])
    assert r.exit_code == 0, r.output
    assert "Maximum keys" in r.output
    shown = run(["show", path])
    assert shown.exit_code == 0 and "Falcon-1024, ML-DSA-87, SLH-DSA-SHA2-256f" in shown.output
    summary = json.loads(run(["show", path, "--json"]).output)
    assert summary["level"] == "Maximum" and summary["kem"] == ["ML-KEM-1024"]
    assert keystore.load(path).unlock("s3cret")  # the password file's first line, no newline

    r = run(["rotate", path], env={"AIVM_PASSWORD": "s3cret"})
    assert r.exit_code == 0, r.output
    assert summary["key_hash"] in r.output
    assert json.loads(run(["show", path, "--json"]).output)["rotated_from"] == summary["key_hash"]
    backups = [p for p in os.listdir(tmp_path) if p.endswith(".old")]
    assert len(backups) == 1
    assert keystore.load(tmp_path / backups[0]).key_hash.hex() == summary["key_hash"][2:]


def test_cli_prompts_for_password(tmp_path):
    path = str(tmp_path / "v.json")
    r = run(["new", "--level", "Basic", "--out", path], input="pw\npw\n")
    assert r.exit_code == 0, r.output
    assert keystore.load(path).unlock("pw").level.title == "Basic"


def test_cli_failures_exit_1_and_leave_the_file_alone(tmp_path):
    path = tmp_path / "v.json"
    assert run(["new", "--out", str(path)], env={"AIVM_PASSWORD": "right"}).exit_code == 0
    before = path.read_bytes()

    r = run(["rotate", str(path)], env={"AIVM_PASSWORD": "wrong"})
    assert r.exit_code == 1 and "wrong password" in r.output and "Traceback" not in r.output
    assert path.read_bytes() == before

    r = run(["new", "--out", str(path)], env={"AIVM_PASSWORD": "right"})
    assert r.exit_code == 1 and "already exists" in r.output
    assert path.read_bytes() == before

    corrupt = tmp_path / "corrupt.json"
    corrupt.write_bytes(before[:-40])
    for args in (["show", str(corrupt)], ["rotate", str(corrupt)]):
        r = run(args, env={"AIVM_PASSWORD": "right"})
        assert r.exit_code == 1 and "corrupt keystore" in r.output
    assert corrupt.read_bytes() == before[:-40]
    assert run(["show", str(tmp_path / "missing.json")]).exit_code == 1
    assert sorted(os.listdir(tmp_path)) == ["corrupt.json", "v.json"]


def test_cli_never_prints_secrets(tmp_path):
    path = tmp_path / "v.json"
    run(["new", "--level", "Enhanced", "--out", str(path)], env={"AIVM_PASSWORD": "pw"})
    keyset = keystore.load(path).unlock("pw")
    out = run(["show", str(path), "--json"]).output + run(["show", str(path)]).output
    for _, _, sk in (*keyset.signing, *keyset.kem):
        assert sk[-16:].hex() not in out
    assert "pw" not in out.split()


def test_sign_only_key_set_round_trips(tmp_path):
    """Validators that only sign keep no KEM keys; their keystores work the same way."""
    keys = KeySet.generate("Enhanced", with_kem=False)
    path = tmp_path / "signer.json"
    keystore.save(keystore.create(keys, "pw"), path)
    store = keystore.load(path)
    assert store.kem_keys is None and store.summary()["kem"] == []
    assert store.unlock("pw") == keys


def test_aivm_cli_has_the_keys_group(tmp_path):
    """`aivm keys ...` is the same group, registered on the node's CLI."""
    from app.cli import main

    path = tmp_path / "v.json"
    r = CliRunner().invoke(main, ["keys", "new", "--level", "Basic", "--out", str(path)],
                           env={"AIVM_PASSWORD": "pw"})
    assert r.exit_code == 0, r.output
    shown = CliRunner().invoke(main, ["keys", "show", str(path)])
    assert shown.exit_code == 0 and "level: Basic" in shown.output
