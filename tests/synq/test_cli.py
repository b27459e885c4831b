"""The `synq` command line, through click's CliRunner."""
from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

import synq
from synq.cli import cli

ROOT = Path(__file__).resolve().parents[2]
ERC20 = str(ROOT / "contracts" / "ERC20.synq")


def run(*args):
    return CliRunner().invoke(cli, list(args))


def test_version():
    r = run("--version")
    assert r.exit_code == 0 and r.output.strip() == f"synq {synq.__version__}"


def test_compile_formats():
    out = synq.compile_source(Path(ERC20).read_text(), ERC20)
    r = run("compile", ERC20)
    assert r.exit_code == 0 and r.output.strip() == "0x" + out.bytecode.hex()
    r = run("compile", "--format", "bin-runtime", ERC20)
    assert r.output.strip() == "0x" + out.runtime_bytecode.hex()
    r = run("compile", "--format", "abi", ERC20)
    assert json.loads(r.output) == out.abi
    r = run("compile", "--format", "asm", ERC20)
    assert "SSTORE" in r.output and "; runtime" in r.output
    r = run("compile", "--format", "json", ERC20)
    data = json.loads(r.output)
    assert data["bytecode"] == "0x" + out.bytecode.hex() and data["storage_layout"]["balanceOf"]["slot"] == 4
    assert data["source_map"]["runtime"]


def test_compile_to_directory(tmp_path):
    oracle = str(ROOT / "contracts" / "AIPriceOracle.synq")
    r = run("compile", ERC20, oracle, "-o", str(tmp_path), "--format", "abi")
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["AIPriceOracle.abi.json", "ERC20.abi.json"]


def test_compile_error_exit_1(tmp_path):
    bad = tmp_path / "bad.synq"
    bad.write_text("storage x: uint256;\nexternal view fn f() { x = 1; }\n")
    r = run("compile", str(bad))
    assert r.exit_code == 1
    assert f"{bad}:2:24: error: this changes state, but 'f' is view" in r.output
    assert "Traceback" not in r.output
    r = run("check", str(bad))
    assert r.exit_code == 1 and "^" in r.output


def test_check_ok_prints_nothing():
    r = run("check", ERC20)
    assert r.exit_code == 0 and r.output == ""


def test_bad_usage_exit_2(tmp_path):
    assert run("compile").exit_code == 2
    assert run("compile", "--format", "nope", ERC20).exit_code == 2
    assert run("compile", str(tmp_path / "missing.synq")).exit_code == 2
    assert run("frobnicate").exit_code == 2
