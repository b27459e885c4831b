"""The first hour of a new user (issue 9): commands and methods do what the README says."""
import json
import subprocess
import sys

import pytest


STORE = """
# pragma version 0.4.3
owner: public(address)
value: public(uint256)
label: public(String[32])

@deploy
def __init__(owner_: address, value_: uint256, label_: String[32]):
    self.owner = owner_
    self.value = value_
    self.label = label_
"""


@pytest.fixture(scope="module")
def store_artifact():
    from vyper import compile_code

    out = compile_code(STORE, output_formats=["bytecode", "abi"])
    return out["bytecode"], out["abi"]


def test_deploy_takes_constructor_args_as_values_or_encoded_hex(node, w3, store_artifact):
    from eth_abi import encode

    code, abi = store_artifact
    owner = w3.eth.accounts[3]
    r = node.rpc("synergy_deployAIVMContract", code, json.dumps(abi), "standard", [owner, "0x2a", "hello"])
    c = w3.eth.contract(address=r["result"]["contract_address"], abi=abi)
    assert (c.functions.owner().call(), c.functions.value().call(), c.functions.label().call()) == (owner, 42, "hello")
    encoded = "0x" + encode(["address", "uint256", "string"], [owner, 7, "hex"]).hex()
    r = node.rpc("synergy_deployAIVMContract", code, abi, "standard", encoded)
    c = w3.eth.contract(address=r["result"]["contract_address"], abi=abi)
    assert (c.functions.value().call(), c.functions.label().call()) == (7, "hex")


@pytest.mark.parametrize("args, needle", [
    ([1, 2], "takes 3 arguments"),
    (["0x00", "x", "y"], "constructor_args"),
    ({"a": 1}, "expected hex"),
    ("0xzz", "constructor_args"),
])
def test_bad_constructor_args_are_refused_clearly(node, store_artifact, args, needle):
    code, abi = store_artifact
    err = node.rpc("synergy_deployAIVMContract", code, abi, "standard", args)["error"]
    assert err["code"] == -32602 and needle in err["message"], err


def test_keys_new_and_show_print_the_validator_address(tmp_path):
    (tmp_path / "pw").write_text("correct horse\n")
    out = subprocess.run([sys.executable, "-m", "app.cli", "keys", "new", "--level", "basic", "--out",
                          str(tmp_path / "v.json"), "--password-file", str(tmp_path / "pw")],
                         capture_output=True, text=True, check=True).stdout
    shown = subprocess.run([sys.executable, "-m", "app.cli", "keys", "show", str(tmp_path / "v.json")],
                           capture_output=True, text=True, check=True).stdout
    from ai import protocol
    from pqc import keystore
    from vm.addresses import to_syn
    from vm.codec import checksum

    address = protocol.validator_address(keystore.load(tmp_path / "v.json").signing_keys)
    for text in (out, shown):
        assert to_syn(address) in text and checksum(address) in text


def test_synq_compile_to_a_directory_writes_abi_and_bytecode_and_every_format_asked(tmp_path):
    from synq.cli import cli
    from click.testing import CliRunner

    src = "contracts/ERC20.synq"
    r = CliRunner().invoke(cli, ["compile", src, "-o", str(tmp_path / "a")])
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["ERC20.abi.json", "ERC20.bin"]
    r = CliRunner().invoke(cli, ["compile", src, "-o", str(tmp_path / "b"), "-f", "abi,bin-runtime", "-f", "asm"])
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["ERC20.abi.json", "ERC20.asm", "ERC20.bin-runtime"]
    assert json.loads((tmp_path / "b" / "ERC20.abi.json").read_text())
    r = CliRunner().invoke(cli, ["compile", src, "-f", "nope"])
    assert r.exit_code == 2 and "unknown format" in r.output


def test_stats_list_only_what_exists(node):
    stats = node.rpc("synergy_getAIVMStats")["result"]
    assert "cross_chain" not in stats["supported_features"]
    assert set(stats["supported_features"]) >= {"pqc_signatures", "quorum_certificates"}


def test_config_file_is_ignored_by_git():
    out = subprocess.run(["git", "check-ignore", "config/aivm-config.toml"], capture_output=True, text=True)
    assert out.returncode == 0


def test_make_run_takes_a_port_and_flags():
    out = subprocess.run(["make", "-n", "run", "PORT=8645", "ARGS=--ephemeral --validators 1"],
                         capture_output=True, text=True, check=True).stdout
    assert "aivm start --port 8645 --ephemeral --validators 1" in out


def test_max_tokens_cap_is_the_generation_cap():
    from models.generation import MAX_NEW_TOKENS as generation_cap
    from ai.scheduler.core import MAX_NEW_TOKENS

    assert MAX_NEW_TOKENS == generation_cap
