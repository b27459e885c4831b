"""The plugin's in-process backend applies each transaction as the node does, but defers the block.

Gas must be exactly what the node charges for the same transaction in its own block
(warm/cold slots and refunds per transaction), and the state the same; only when
something needs a block is the open block sealed.
"""
import pytest
from eth_abi import encode
from eth_utils import keccak

from aivm_pytest.local import LocalBackend
from tests.contracts import compiled
from vm.chain import Chain, TxRejected

SEL_TRANSFER = keccak(b"transfer(address,uint256)")[:4]
SEL_BALANCE = keccak(b"balanceOf(address)")[:4]


def _transfer(to: bytes, amount: int) -> bytes:
    return SEL_TRANSFER + encode(["address", "uint256"], [to, amount])


def _workload(a):
    """(sender, to-token?, data) steps: new holders, repeats to one holder, a refund (balance -> 0)."""
    bob, carol = a[1].address, a[2].address
    steps = [(a[0].address, _transfer(bob, 100))]
    steps += [(a[0].address, _transfer(carol, 1)) for _ in range(4)]  # repeats: cold again each time
    steps += [(bob, _transfer(carol, 100))]  # bob's balance 100 -> 0: a storage refund
    steps += [(bob, _transfer(carol, 1))]  # reverts: insufficient balance
    return steps


def _deploy(transact, a0):
    art = compiled()
    code = bytes.fromhex(art["bytecode"][2:]) + encode(["uint256"], [10**24])
    return transact(a0, None, code)


def test_gas_and_state_equal_one_block_per_transaction():
    node_like = Chain.ephemeral()
    backend = LocalBackend()
    a = node_like.accounts
    limit = node_like.config.gas_limit
    r_node = _deploy(lambda s, t, d: node_like.transact(s, t, d, 0, limit), a[0].address)
    r_plugin = _deploy(lambda s, t, d: backend.transact(s, t, d, 0, None), a[0].address)
    assert r_node.contract_address == r_plugin.contract_address
    assert r_node.gas_used == r_plugin.gas_used
    token = r_node.contract_address
    ours, theirs = [], []
    for sender, data in _workload(a):
        n = node_like.transact(sender, token, data, 0, limit)  # its own block, as automine does
        p = backend.transact(sender, token, data, 0, None)
        theirs.append((n.success, n.gas_used, n.output))
        ours.append((p.success, p.gas_used, p.output))
    assert ours == theirs
    gas = [g for _, g, _ in ours]
    assert gas[1] - gas[2] == 17_100 and len(set(gas[2:5])) == 1  # repeats charge the same: nothing stays warm across transactions
    assert not ours[-1][0]  # the revert is reported as a failed transaction with the node's gas
    # every transaction went into one open block (a REVERT does not depend on the gas given)
    assert backend._open is not None and len(backend._open.included) == 1 + len(ours)  # and the deploy
    assert backend._chain.head_number == node_like.head_number - 1 - len(ours)
    last = backend.transact(a[0].address, token, _transfer(a[3].address, 5), 0, None)
    assert last.receipt is not None and int(last.receipt["gasUsed"], 16) == last.gas_used
    assert backend._open is None  # reading the receipt sealed the block
    node_like.transact(a[0].address, token, _transfer(a[3].address, 5), 0, limit)
    for who in (a[0].address, a[1].address, a[2].address, a[3].address):
        data = SEL_BALANCE + encode(["address"], [who])
        assert backend.call(who, token, data, 0, None).output == node_like.call(who, token, data).output
        assert backend.balance(who) <= 10_000 * 10**18


def test_the_open_block_seals_only_when_something_needs_a_block():
    backend = LocalBackend()
    a = backend.accounts
    start = backend._chain.head_number
    results = [backend.transact(a[0], a[1], b"", 1, None) for _ in range(5)]
    assert backend._chain.head_number == start  # nothing sealed yet
    assert {r.block_number for r in results} == {start + 1}
    assert backend.block_number == start + 1  # the open block counts as the latest one, unsealed
    assert backend.balance(a[1]) == 10_000 * 10**18 + 5  # reads see the open block's state
    assert backend._chain.head_number == start
    hashes = [r.tx_hash for r in results]  # signed on demand: the hashes the block will hold
    assert backend._chain.head_number == start
    assert [r.receipt["status"] for r in results] == ["0x1"] * 5  # a receipt seals, in one block
    block = backend._chain.index.block(start + 1)
    assert block["transactions"] == ["0x" + h.hex() for h in hashes]
    assert [int(r.receipt["gasUsed"], 16) for r in results] == [21_000] * 5
    assert int(block["gasUsed"], 16) == 5 * 21_000


# runtime code: return block.number / blockhash(block.number - 1) / gas left after SLOAD(0) twice
RETURN_NUMBER = bytes.fromhex("435f5260205ff3")
RETURN_PARENT_HASH = bytes.fromhex("436001900340" "5f5260205ff3")


def test_calls_on_the_open_block_answer_as_the_node_would_after_sealing_it():
    """A call runs on the open block's state in the next block's context; asking for the open block's
    own hash seals it first; gas of a call equals a fresh (cold) node call."""
    node_like, backend = Chain.ephemeral(), LocalBackend()
    a = node_like.accounts
    limit = node_like.config.gas_limit
    token_n = _deploy(lambda s, t, d: node_like.transact(s, t, d, 0, limit), a[0].address).contract_address
    token = _deploy(lambda s, t, d: backend.transact(s, t, d, 0, None), a[0].address).contract_address
    numberer, hasher = b"\x51" * 20, b"\x52" * 20
    for chain in (node_like, backend.chain):  # (.chain seals the deploy first, as dev edits must)
        chain.set_code(numberer, RETURN_NUMBER)
        chain.set_code(hasher, RETURN_PARENT_HASH)
    bob = a[1].address
    node_like.transact(a[0].address, token_n, _transfer(bob, 7), 0, limit)
    backend.transact(a[0].address, token, _transfer(bob, 7), 0, None)
    assert backend._open is not None and backend._open.included
    data = SEL_BALANCE + encode(["address"], [bob])
    open_call = backend.call(bob, token, data, 0, None)  # right after the transfer touched the slot
    node_call = node_like.call(bob, token_n, data)
    assert (open_call.output, open_call.gas_used) == (node_call.output, node_call.gas_used)  # cold again
    number = backend.call(bob, numberer, b"", 0, None)
    assert backend._open is not None and int.from_bytes(number.output, "big") == backend.block_number + 1
    assert number.output == node_like.call(bob, numberer, b"").output
    parent = backend.call(bob, hasher, b"", 0, None)  # needs the open block's hash: sealed first
    assert backend._open is None
    assert parent.output == backend._chain.head.hash
    assert backend.call(bob, token, data, 0, None).gas_used == node_call.gas_used


def test_a_revert_drops_the_open_block():
    backend = LocalBackend()
    a = backend.accounts
    before = backend.balance(a[1])
    sid = backend.snapshot()
    backend.transact(a[0], a[1], b"", 7, None)
    assert backend.revert(sid)
    assert backend._open is None
    assert backend.balance(a[1]) == before


def test_a_failure_with_less_than_the_full_limit_runs_again_with_the_full_limit():
    """A transaction that burns all its gas must burn the full block gas limit, as on a node."""
    backend = LocalBackend()
    a = backend.accounts
    burner = b"\x44" * 20
    backend.set_balance(burner, 0)
    backend._chain.set_code(burner, b"\xfe")  # INVALID: consumes all gas
    backend.transact(a[0], a[1], b"", 1, None)  # the open block has used some gas now
    r = backend.transact(a[0], burner, b"", 0, None)
    assert not r.success and r.gas_used == backend.gas_limit


def test_fast_account_encoding_is_rlps_own():
    """The fast path writes accounts with its own RLP encoder: byte for byte rlp's."""
    import random

    import rlp
    from eth.rlp.accounts import Account

    from vm.fastblock import encode_account

    rng = random.Random(14)
    edges = [0, 1, 0x7F, 0x80, 0xFF, 0x100, 2**64 - 1, 2**256 - 1]
    for _ in range(500):
        nonce = rng.choice(edges[:7] + [rng.randrange(2**64)])
        balance = rng.choice(edges + [rng.randrange(2**rng.randrange(1, 257))])
        a = Account(nonce, balance, rng.randbytes(32), rng.randbytes(32))
        assert encode_account(a) == rlp.encode(a, sedes=Account)


def test_fast_and_node_paths_leave_the_same_state_root():
    """One block built by the fast path and the same transactions through `BlockBuilder.apply`
    (signed, fully validated) seal to the same state root, receipts root and gas."""
    fast, slow = LocalBackend(), LocalBackend()
    a = fast.accounts
    token = _deploy(lambda s, t, d: fast.transact(s, t, d, 0, None), a[0]).contract_address
    _deploy(lambda s, t, d: slow.transact(s, t, d, 0, 5_000_000), a[0])  # a fixed gas limit: the node's way
    empty = b"\x0e" * 20
    for b in (fast, slow):
        b.set_balance(empty, 0)  # an account that exists and is empty: touching it clears it (EIP-161)
    fast.seal(), slow.seal()
    fast._chain.set_next_timestamp(fast._chain.head.timestamp + 10)
    slow._chain.set_next_timestamp(fast._chain.head.timestamp + 10)
    limit = fast.gas_limit // 4
    steps = [(a[0], _transfer(a[i], 10 * i)) for i in range(1, 6)]
    steps += [(a[1], _transfer(a[2], 10)), (a[1], _transfer(a[2], 1)), (a[2], _transfer(a[3], 10**30))]
    for sender, data in steps:
        f = fast.transact(sender, token, data, 0, None)
        s = slow.transact(sender, token, data, 0, limit)
        assert (f.success, f.output) == (s.success, s.output)
    f, s = fast.transact(a[4], empty, b"", 0, None), slow.transact(a[4], empty, b"", 0, limit)
    assert f.success and s.success and fast.code(empty) == b""
    fb, sb = fast._open, slow._open
    assert len(fb.included) == len(sb.included) == len(steps) + 1
    fast.seal(), slow.seal()
    fh, sh = fast._chain.head, slow._chain.head
    assert fh.state_root == sh.state_root and fh.receipt_root == sh.receipt_root
    assert fh.gas_used == sh.gas_used != 0 and fh.bloom == sh.bloom


def _words(*ops: bytes) -> bytes:
    """Runtime code: run each op sequence, store its result as the next 32-byte word, return them all."""
    code = b""
    for i, op in enumerate(ops):
        code += op + bytes((0x61,)) + (32 * i).to_bytes(2, "big") + b"\x52"  # ...; PUSH2 32*i; MSTORE
    return code + bytes((0x61,)) + (32 * len(ops)).to_bytes(2, "big") + bytes((0x5F, 0xF3))  # PUSH2 n; PUSH0; RETURN


# GASPRICE, ORIGIN, CALLER, GASLIMIT, BASEFEE, CALLVALUE, BALANCE(CALLER), SELFBALANCE, GAS
CONTEXT_PROBE = _words(b"\x3a", b"\x32", b"\x33", b"\x45", b"\x48", b"\x34", b"\x33\x31", b"\x47", b"\x5a")
STORE_PROBE = bytes.fromhex("60015f555f545f5260205ff3")  # SSTORE(0, 1); return SLOAD(0): cold slot, no refund
TRANSIENT_PROBE = bytes.fromhex("60075f5d5f5c5f5260205ff3")  # TSTORE(0, 7); return TLOAD(0)
REVERT_PROBE = bytes.fromhex("602a5f5260205ffd")  # revert with one word of data
CREATE_PROBE = bytes.fromhex("5f5f5ff05f5260205ff3")  # CREATE(0, 0, 0); return the new address
LOOP_PROBE = bytes.fromhex("5b5f56")  # JUMPDEST; PUSH0; JUMP: runs out of gas in the interpreter loop


def test_the_fast_call_route_equals_the_nodes_costless_execution():
    """Calls on the open block without a gas limit skip py-evm's spoofed-transaction wrapper and its
    validation (which cannot fail for them) and run the executor's steps directly; the result —
    output, success, gas — equals the node's own route (`costless_execute_transaction`, taken when a
    gas limit is given) and, after sealing, `Chain.call`. Both leave the state as it was."""
    backend = LocalBackend()
    a = backend.accounts
    limit = backend.gas_limit
    probes = [b"\x61" * 20, b"\x62" * 20, b"\x63" * 20, b"\x64" * 20, b"\x65" * 20]
    for p, code in zip(probes, (CONTEXT_PROBE, STORE_PROBE, TRANSIENT_PROBE, REVERT_PROBE, CREATE_PROBE)):
        backend.chain.set_code(p, code)
    token = _deploy(lambda s, t, d: backend.transact(s, t, d, 0, None), a[0]).contract_address
    backend.transact(a[0], token, _transfer(a[1], 5), 0, None)
    assert backend._open is not None and backend._open.included
    balance_of = SEL_BALANCE + encode(["address"], [a[1]])
    cases = [(s, p, b"", v) for p in probes for s in (a[1], None, probes[0]) for v in (0, 3)]
    cases += [(a[1], token, balance_of, 0), (a[2], token, _transfer(a[3], 1), 0), (a[2], token, _transfer(a[3], 1), 1)]
    before = [(backend.balance(x), backend.nonce(x)) for x in (a[1], a[2], probes[0], probes[4])]
    seen = []
    for sender, to, data, value in cases:
        if value and sender == probes[0]:
            continue  # the probe holds no ether: the node's validation refuses (both routes: below)
        fast = backend.call(sender, to, data, value, None)
        node_route = backend.call(sender, to, data, value, limit)
        assert (fast.success, fast.output, fast.gas_used) == (node_route.success, node_route.output,
                                                              node_route.gas_used), (sender, to, value)
        seen.append(((sender, to, data, value), fast))
    failed = {(sender, to, data) for (sender, to, data, _), r in seen if not r.success}
    assert failed == {(s, probes[3], b"") for s in (a[1], None, probes[0])} | {(a[2], token, _transfer(a[3], 1))}
    assert [(backend.balance(x), backend.nonce(x)) for x in (a[1], a[2], probes[0], probes[4])] == before
    with pytest.raises(TxRejected):
        backend.call(probes[0], probes[1], b"", 3, None)  # value beyond the sender's balance
    backend.seal()  # the node's own eth_call on the sealed block answers the same
    for (sender, to, data, value), fast in seen:
        node = backend._chain.call(sender, to, data, value)
        assert (fast.success, fast.output, fast.gas_used) == (node.success, node.output, node.gas_used)
    looper = b"\x66" * 20
    backend.chain.set_code(looper, LOOP_PROBE)
    backend.transact(a[0], token, _transfer(a[1], 5), 0, None)  # an open block again
    backend.call(a[1], probes[0], b"", 0, None)  # the call context built in full ...
    backend.transact(a[0], token, _transfer(a[2], 5), 0, None)
    assert backend._open._quick_context
    context = backend.call(a[1], probes[0], b"", 0, None)  # ... and at a new gas used, its gas limit derived
    out_of_gas = backend.call(a[1], looper, b"", 0, 100_000)  # runs out in the open block's interpreter loop
    assert backend._open is not None and not out_of_gas.success
    backend.seal()
    node = backend._chain.call(a[1], probes[0], b"", 0)
    assert (context.output, context.gas_used) == (node.output, node.gas_used)  # GASLIMIT included
    node = backend._chain.call(a[1], looper, b"", 0, 100_000)
    assert (node.success, node.gas_used) == (False, out_of_gas.gas_used) and node.gas_used == 100_000
    assert "Out of gas" in str(node.computation.error)
    assert str(node.computation.error) == str(out_of_gas.computation.error)  # py-evm's own OutOfGas, word for word
