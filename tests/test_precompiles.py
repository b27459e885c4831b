"""The precompile registry and the address table in docs/precompiles.md agree."""
import re
from pathlib import Path

import precompiles

DOC = Path(__file__).resolve().parent.parent / "docs" / "precompiles.md"


def test_doc_table_lists_every_precompile():
    rows = re.findall(r"^\| (0x[0-9a-fA-F]{4}) \| (\w+) \|", DOC.read_text(), re.M)
    documented = {(int(a, 16), name) for a, name in rows}
    registered = {(p.address, p.name) for p in precompiles.all_precompiles()}
    assert documented == registered


def test_addresses_are_in_the_aivm_range_and_unique():
    addrs = [p.address for p in precompiles.all_precompiles()]
    assert len(addrs) == len(set(addrs))
    assert all(a >= 0x100 for a in addrs)


def test_stateful_precompiles_get_genesis_accounts():
    for p in precompiles.all_precompiles():
        entry = precompiles.genesis_accounts().get(p.address_bytes)
        assert (entry is not None) == p.stateful
        if entry:
            assert entry["nonce"] == 1 and entry["code"] == b"\xfe"


def test_version_precompile_via_staticcall_and_out_of_gas():
    from eth_abi import encode
    from tests.contracts import compiled
    from vm.chain import Chain
    from web3 import Web3

    chain = Chain.ephemeral()
    art = compiled()
    r = chain.transact(chain.accounts[0].address, None,
                       bytes.fromhex(art["bytecode"][2:]) + encode(["uint256"], [1]))
    c = Web3().eth.contract(abi=art["abi"])
    data = bytes.fromhex(c.encode_abi("aivm_version")[2:])
    res = chain.call(chain.accounts[0].address, r.contract_address, data)
    assert res.success
    from eth_abi import decode

    version, chain_id, count = decode(["string", "uint256", "uint256"], res.output)
    assert version == "aivm/0.1.0" and chain_id == 31337 and count == len(precompiles.all_precompiles())
    # too little gas: the call fails (a failed precompile consumes its gas), the caller sees False
    data = bytes.fromhex(c.encode_abi("call_precompile", args=["0x" + "00" * 18 + "0100", 100])[2:])
    ok, out = decode(["bool", "bytes"], chain.call(chain.accounts[0].address, r.contract_address, data).output)
    assert ok is False and out == b""
    data = bytes.fromhex(c.encode_abi("call_precompile", args=["0x" + "00" * 18 + "0100", 5000])[2:])
    ok, out = decode(["bool", "bytes"], chain.call(chain.accounts[0].address, r.contract_address, data).output)
    assert ok is True and decode(["string", "uint256", "uint256"], out)[0] == "aivm/0.1.0"


def test_every_precompile_is_declared_once_in_the_spec_and_the_docs_are_rendered_from_it():
    from precompiles import spec

    registered = {(p.address, p.name) for p in precompiles.all_precompiles()}
    assert registered == {(s.address, s.name) for s in spec.aivm_specs()}
    rows = [ln for ln in DOC.read_text().splitlines() if re.match(r"^\| 0x[0-9a-f]{4} \|", ln)]
    assert rows == [s.doc_row() for s in spec.aivm_specs()]
    for s in spec.aivm_specs():  # a precompile that writes state is reached with CALL, never STATICCALL
        assert s.call == ("call" if s.writes_state else "staticcall")


def test_synq_builtin_table_is_generated_from_the_spec():
    from precompiles import spec

    generated = (Path(__file__).resolve().parent.parent / "synq" / "builtins.py").read_text()
    assert generated == spec.synq_table(), "run: python -m precompiles.spec --synq > synq/builtins.py"
    synq_doc = (DOC.parent / "synq.md").read_text()
    for name in spec.builtins():
        assert f"`{name}(" in synq_doc, f"docs/synq.md does not document the builtin {name}"


def test_a_precompile_without_a_spec_entry_is_refused():
    import pytest

    from precompiles.registry import Precompile, register

    with pytest.raises(ValueError, match="spec.py"):
        register(Precompile("undeclared", 0x01FF, gas=lambda data: 0, run=lambda ctx: b""))
