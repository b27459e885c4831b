"""Warm state across blocks (vm/trie_cache.py) and kept eth_call results (vm/reader.py)
change no figure: state roots equal py-evm's own trie, calls see every new head."""
import json
import os
import subprocess
import sys

from tests.contracts import compiled
from vm.chain import Chain, ChainConfig

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# one workload, run twice: with the warm caches and with py-evm's own HexaryTrie.
# Storage set, changed, zeroed (trie deletes), new accounts, a contract created, several
# blocks touching the same slots, a dev edit, a snapshot revert and re-mine.
WORKLOAD = r'''
import json, sys
from vm.chain import Chain, ChainConfig
from tests.contracts import compiled
from eth_abi import encode
art = compiled()
c = Chain.ephemeral(ChainConfig(genesis_timestamp=1_700_000_000))
a = [x.address for x in c.accounts]
ts = iter(range(1_700_000_001, 1_700_100_000))
roots = []
def mine(*txs):
    b = c.open_block(next(ts))
    used = {}
    for sender, to, data, value in txs:
        nonce = c.nonce(sender) + used.get(sender, 0)
        used[sender] = used.get(sender, 0) + 1
        tx, s = c.sign(sender, to, data, value, gas=500_000, nonce=nonce)
        b.add(tx, s)
    m = c.seal_block(b)
    roots.append((m.number, c.head.state_root.hex(), c.head.receipt_root.hex(), c.head.gas_used, [r.success for r in m.results]))
    return m
token = mine((a[0], None, bytes.fromhex(art["bytecode"][2:]) + encode(["uint256"], [10**6]), 0)).results[0].contract_address
sel = bytes.fromhex("a9059cbb")
def transfer(frm, to, amount):
    return (frm, token, sel + encode(["address", "uint256"], [to, amount]), 0)
for i in range(6):
    mine(transfer(a[0], a[1 + i % 3], 10 + i), transfer(a[0], a[7], 1), (a[2], bytes([0xEE] * 19 + [i]), b"", 5))
    assert len(roots[-1][4]) == 3
mine(transfer(a[1], a[0], 10), transfer(a[2], a[0], 11))  # a[1]'s slot back to a smaller value
bal1 = int.from_bytes(c.call(to=token, data=bytes.fromhex("70a08231") + encode(["address"], [a[1]])).output, "big")
mine(transfer(a[1], a[0], bal1))  # a[1]'s balance slot zeroed: a storage trie delete
c.set_storage(token, 12345, 7)
c.set_balance(a[8], 3)
mine(transfer(a[0], a[8], 1))
sid = c.snapshot()
mine(transfer(a[0], a[9], 2), transfer(a[3], a[9], 3))
c.revert(sid)
mine(transfer(a[0], a[9], 4))
mine(transfer(a[0], a[9], 4), transfer(a[7], a[0], 1))
print(json.dumps(roots))
'''


def run_workload(switches: dict, script: str = WORKLOAD) -> list:
    """`script` in a fresh interpreter with the given environment switches; its last line, as JSON."""
    env = {**os.environ, **switches, "PYTHONPATH": ROOT}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                         timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def _run(cache: str) -> list:
    return run_workload({"AIVM_TRIE_CACHE": cache})


def test_warm_trie_gives_py_evms_roots_block_for_block():
    warm, plain = _run("1"), _run("0")
    assert len(warm) == 13 and all(all(ok) for *_, ok in warm)
    assert warm == plain


def test_kept_call_results_follow_the_head():
    from eth_abi import encode

    art = compiled()
    c = Chain.ephemeral(ChainConfig())
    a = [x.address for x in c.accounts]
    token = c.transact(a[0], None, bytes.fromhex(art["bytecode"][2:]) + encode(["uint256"], [1000])).contract_address
    data = bytes.fromhex("70a08231") + encode(["address"], [a[1]])

    def balance():
        hit = c.cached_call(to=token, data=data)
        fresh = c.call(to=token, data=data)
        if hit is not None:
            assert hit.output == fresh.output and hit.gas_used == fresh.gas_used
        return int.from_bytes(fresh.output, "big"), hit is not None

    assert c.cached_call(to=token, data=data) is None  # nothing kept yet
    assert balance() == (0, False)
    assert balance() == (0, True)  # the same call on the same head: kept
    assert c.cached_call(to=token, data=data, gas=50_000) is None  # other arguments: not the same call
    assert c.cached_call(to=token, data=data, block=0) is None  # only the latest view is kept

    c.transact(a[0], token, bytes.fromhex("a9059cbb") + encode(["address", "uint256"], [a[1], 5]))
    assert c.cached_call(to=token, data=data) is None  # a new block: the old results are gone
    assert balance() == (5, False)

    slot = int.from_bytes(__import__("eth_utils").keccak(encode(["address", "uint256"], [a[1], 0])), "big")
    c.set_storage(token, slot, 9)  # a dev edit is a new view too
    assert c.cached_call(to=token, data=data) is None
    edited, hit = balance()
    assert not hit and balance() == (edited, True)

    sid = c.snapshot()
    c.transact(a[0], token, bytes.fromhex("a9059cbb") + encode(["address", "uint256"], [a[1], 1]))
    assert balance() == (edited + 1, False)
    c.revert(sid)
    assert c.cached_call(to=token, data=data) is None
    assert balance() == (edited, False)


def test_calls_that_reach_an_aivm_precompile_are_never_kept():
    c = Chain.ephemeral(ChainConfig())
    version = (0x0100).to_bytes(20, "big")
    first = c.call(to=version, data=b"")
    assert c.cached_call(to=version, data=b"") is None
    assert c.call(to=version, data=b"").output == first.output
