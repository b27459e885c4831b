"""The node's blocks run py-evm's executor steps through the lean pieces of vm/lean_exec.py.

The same blocks — contract creation, ERC20 transfers, reverts, out of gas, stack errors, bad
jumps, CREATE, SELFDESTRUCT, transient storage, refunds, precompiles, EIP-161 clearing,
legacy and access-list transactions, a rejected duplicate nonce — are mined on two chains
from the same genesis, one with `LEAN_EXECUTION` off (py-evm's `state.apply_transaction` as
it is), one with it on; every block hash (state root, receipts root, gas, bloom), every
result (success, gas, output, error text, logs, contract address), every stored receipt and
every rejection must be equal.
"""
import pytest
from eth_abi import encode
from eth_utils import keccak

from tests.contracts import compiled
from vm import block_builder, lean_exec
from vm.chain import Chain, ChainConfig

GENESIS_TIME = 1_700_000_000
SEL_TRANSFER = keccak(b"transfer(address,uint256)")[:4]
SEL_PRECOMPILE = keccak(b"call_precompile(address,uint256)")[:4]


def _hex(s: str) -> bytes:
    return bytes.fromhex(s)


# runtime programs installed with set_code (the same dev edit on both chains)
PROBES = {
    "store": _hex("60015f555f545f5260205ff3"),  # SSTORE(0, 1); return SLOAD(0)
    "clear": _hex("5f5f555f545f5260205ff3"),  # SSTORE(0, 0) on a set slot: a refund
    "transient": _hex("60075f5d5f5c5f5260205ff3"),  # TSTORE(0, 7); return TLOAD(0)
    "revert": _hex("602a5f5260205ffd"),  # revert with one word
    "create": _hex("5f5f5ff05f5260205ff3"),  # CREATE(0, 0, 0); return the address
    "loop": _hex("5b5f56"),  # JUMPDEST; PUSH0; JUMP: out of gas
    "underflow": _hex("6001600101016000"),  # ADD with one item: InsufficientStack
    "overflow": _hex("5b5f600056"),  # one push a turn: FullStack at 1,025 items
    "invalid": _hex("6001fe"),  # INVALID
    "badjump": _hex("600356"),  # JUMP into nothing
    # PUSH1 1 PUSH1 2 PUSH1 3 SWAP2 DUP3 ADD MUL DUP1 SWAP1 POP PUSH0 MSTORE; return it
    "stackops": _hex("600160026003918201028090505f5260205ff3"),
    "push32": _hex("7f" + "ab" * 32 + "5f5260205ff3"),
    "truncated": _hex("600160025061ff"),  # a PUSH2 cut short by the end of the code
    "selfdestruct": _hex("33ff"),  # CALLER SELFDESTRUCT
    "logger": _hex("60ff5f5260205f60aa60bb60cc60dda4"),  # LOG4 of one word
    "caller": _hex("335f5260205ff3"),
    "full": b"\x5f" * 1024,  # a full stack: fine
    "full_push": b"\x5f" * 1025,  # one more: FullStack
    "full_dup": b"\x5f" * 1024 + b"\x80",  # DUP1 on a full stack: FullStack
    "full_swap": b"\x5f" * 1024 + b"\x9f\x50\x50",  # SWAP16, POPs on a full stack: fine
}
# a contract that calls the store probe, then reverts: the inner write is undone
NESTED_TEMPLATE = "5f5f5f5f5f73{addr}5af1505f5ffd"  # CALL(gas, addr, 0, 0, 0, 0, 0); POP; REVERT(0, 0)


def _address(name: str) -> bytes:
    return keccak(name.encode())[:20]


def _setup(chain: Chain) -> dict:
    for name, code in PROBES.items():
        chain.set_code(_address(name), code)
    nested = _hex(NESTED_TEMPLATE.format(addr=_address("store").hex()))
    chain.set_code(_address("nested"), nested)
    chain.set_balance(_address("empty"), 0)  # exists and is empty: touching it clears it (EIP-161)
    return {name: _address(name) for name in list(PROBES) + ["nested", "empty"]}


def _blocks(chain: Chain) -> list:
    """The workload: a list of blocks, each a list of (tx, sender), signed on `chain`."""
    a = [acct.address for acct in chain.accounts]
    probes = _setup(chain)
    nonces = {x: 0 for x in a}

    def tx(sender, to, data=b"", value=0, gas=300_000, nonce=None, **fees):
        n = nonces[sender] if nonce is None else nonce
        if nonce is None:
            nonces[sender] += 1
        return chain.sign(sender, to, data, value, gas, nonce=n, max_fee_per_gas=10**11, **fees)

    art = compiled()
    deploy = bytes.fromhex(art["bytecode"][2:]) + encode(["uint256"], [10**24])
    token = keccak(b"\xd6\x94" + a[0] + b"\x80")[12:]  # the first contract of a[0] (nonce 0)

    def transfer(to, amount):
        return SEL_TRANSFER + encode(["address", "uint256"], [to, amount])

    blocks = [[tx(a[0], None, deploy, gas=3_000_000)]]
    blocks.append([tx(a[0], token, transfer(a[i], 1000 * i)) for i in range(1, 5)])
    blocks.append([tx(a[1], token, transfer(a[2], 1000)),  # a[1]'s whole balance: a storage refund
                   tx(a[1], token, transfer(a[2], 1)),  # reverts: insufficient balance
                   tx(a[2], token, transfer(a[3], 5), gas=30_000)])  # out of gas in the token
    blocks.append([tx(a[3], probes[name], value=7 if name == "selfdestruct" else 0)
                   for name in ("store", "transient", "revert", "create", "underflow", "overflow", "invalid",
                                "badjump", "stackops", "push32", "truncated", "selfdestruct", "logger", "full",
                                "full_push", "full_dup", "full_swap")])
    blocks.append([tx(a[3], probes["store"]), tx(a[3], probes["clear"]), tx(a[4], probes["loop"], gas=100_000),
                   tx(a[4], probes["nested"]), tx(a[4], probes["empty"]), tx(a[4], a[5], value=10**18)])
    blocks.append([tx(a[5], token, SEL_PRECOMPILE + encode(["address", "uint256"], [bytes(19) + bytes((p,)), 50_000]),
                      gas=400_000) for p in (1, 2, 3, 4, 5, 6, 7, 8, 9, 10)])
    blocks.append([tx(a[6], probes["caller"], gas_price=10**11),  # legacy (EIP-155)
                   tx(a[6], token, transfer(a[7], 0), gas_price=10**11,
                      access_list=[(token, [0, 1])]),  # EIP-2930
                   tx(a[6], a[8], value=1, gas=21_000),
                   tx(a[6], a[8], value=2, gas=21_000, nonce=nonces[a[6]] - 1)])  # same nonce again: rejected
    return blocks


def _mine(monkeypatch, lean: bool) -> tuple:
    monkeypatch.setattr(block_builder, "LEAN_EXECUTION", lean)
    used = []
    real = lean_exec.block_executor

    def spy(state):
        ex = real(state)
        used.append(ex is not None and state.computation_class.__name__.startswith("Lean"))
        return ex

    monkeypatch.setattr(block_builder, "block_executor", spy)
    chain = Chain.ephemeral(ChainConfig(genesis_timestamp=GENESIS_TIME))
    out = []
    for i, txs in enumerate(_blocks(chain)):
        mined = chain.mine(txs, timestamp=GENESIS_TIME + 12 * (i + 1))
        head = chain.head
        results = [(r.success, r.gas_used, r.output, r.error, r.contract_address,
                    [(log.address, tuple(log.topics), log.data) for log in r.logs]) for r in mined.results]
        receipts = [chain.index.transaction(r.tx_hash)["receipt"] for r in mined.results]
        rejected = [(t.hash, why) for t, why in mined.rejected]
        out.append((head.hash, head.state_root, head.receipt_root, head.gas_used, results, receipts, rejected))
    return out, used


# the blocks run SELFDESTRUCT on purpose (py-evm warns that the opcode is deprecated)
@pytest.mark.filterwarnings("ignore:SELFDESTRUCT opcode present:DeprecationWarning")
def test_lean_blocks_equal_py_evms_own(monkeypatch):
    stock, used_stock = _mine(monkeypatch, lean=False)
    lean, used_lean = _mine(monkeypatch, lean=True)
    assert not used_stock and used_lean and all(used_lean)  # each chain took the path it was asked to
    assert len(stock) == len(lean)
    for number, (s, f) in enumerate(zip(stock, lean), start=1):
        assert s[4] == f[4], f"block {number}: results differ"
        assert s[5] == f[5], f"block {number}: receipts differ"
        assert s[6] == f[6], f"block {number}: rejections differ"
        assert s[:4] == f[:4], f"block {number}: header differs"
    results = [r for block in lean for r in block[4]]
    errors = {r[3] for r in results if not r[0]}
    # the workload reaches what it is meant to: failures of each kind, logs, a rejection
    for kind in ("FullStack", "InsufficientStack", "out of gas", "invalid jump", "invalid opcode", "reverted"):
        assert any(kind in e for e in errors), (kind, errors)
    assert sum(len(r[5]) for r in results) >= 8  # Transfer events and LOG4
    assert lean[-1][6] and "nonce" in lean[-1][6][0][1]
    full = {name: r[0] for name, r in zip(("full", "full_push", "full_dup", "full_swap"), lean[3][4][-4:])}
    assert full == {"full": True, "full_push": False, "full_dup": False, "full_swap": True}


def test_other_executor_classes_keep_py_evms_own_steps():
    """A state whose executor or computation differs from the classes the lean steps were
    copied from keeps py-evm's own."""
    chain = Chain.ephemeral()
    state = chain.open_block().vm.state

    class OtherExecutor(state.transaction_executor_class):
        def __call__(self, transaction):
            return super().__call__(transaction)

    state.transaction_executor_class = OtherExecutor
    assert lean_exec.block_executor(state) is None
    base = chain.open_block().vm.state.computation_class

    class OwnLoop(base):
        @classmethod
        def apply_computation(cls, *args, **kwargs):
            return super().apply_computation(*args, **kwargs)

    assert lean_exec.lean_computation_class(OwnLoop) is OwnLoop
    assert lean_exec.lean_computation_class(base) is not base


def _random_program(rng) -> bytes:
    """Stack, arithmetic, comparison and memory opcodes the lean loop does itself, a few it calls, then the
    top four words returned (too few: InsufficientStack); some cut short inside a PUSH."""
    lean_ops = [0x01, 0x02, 0x03, 0x10, 0x11, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1B, 0x1C, 0x50, 0x5B]
    called = [0x04, 0x06, 0x0A, 0x12, 0x1A, 0x1D, 0x58, 0x5A, 0x59, 0x33, 0x30]  # DIV MOD EXP SLT BYTE SAR PC GAS MSIZE CALLER ADDRESS
    code = bytearray()
    for _ in range(6):  # a few words to work on
        code += bytes((0x60, rng.randrange(256)))
    for _ in range(rng.randrange(1, 60)):
        r = rng.random()
        if r < 0.4:
            n = rng.choice([0, 1, 1, 2, 4, 20, 31, 32])
            code.append(0x5F + n)
            code += bytes(rng.choice([0, 1, 0xFF, rng.randrange(256)]) for _ in range(n))
        elif r < 0.5:
            code.append(0x80 + rng.randrange(rng.choice([2, 16])))  # DUP
        elif r < 0.62:
            code.append(0x90 + rng.randrange(rng.choice([2, 16])))  # SWAP
        elif r < 0.84:
            code.append(rng.choice(lean_ops))
        elif r < 0.92:  # MLOAD / MSTORE inside, at the edge of and beyond the memory so far
            code += bytes((0x60, rng.choice([0, 1, 31, 32, 64, 96, 200]), rng.choice([0x51, 0x52])))
        else:
            code.append(rng.choice(called))
    if rng.random() < 0.1:
        return bytes(code) + bytes((0x7F,)) + bytes(rng.randrange(32))  # PUSH32 cut short
    for i in range(4):
        code += bytes((0x60, 32 * i, 0x52))  # PUSH1 32*i MSTORE
    return bytes(code) + bytes((0x60, 0x80, 0x5F, 0xF3))  # RETURN(0, 128)


def _mine_programs(monkeypatch, lean: bool, programs: list) -> list:
    monkeypatch.setattr(block_builder, "LEAN_EXECUTION", lean)
    chain = Chain.ephemeral(ChainConfig(genesis_timestamp=GENESIS_TIME))
    sender = chain.accounts[0].address
    out, nonce = [], 0
    for i in range(0, len(programs), 50):
        txs = []
        for j, (code, gas) in enumerate(programs[i:i + 50], start=i):
            target = keccak(b"program%d" % j)[:20]
            chain.set_code(target, code)
            txs.append(chain.sign(sender, target, b"", 0, gas, nonce=nonce, max_fee_per_gas=10**11))
            nonce += 1
        mined = chain.mine(txs, timestamp=GENESIS_TIME + 12 * (i + 1))
        out.append((chain.head.hash, [(r.success, r.gas_used, r.output, r.error) for r in mined.results]))
    return out


def test_random_programs_equal_py_evms_own(monkeypatch):
    import random

    rng = random.Random(1414)
    programs = [(_random_program(rng), rng.choice([21_100, 21_300, 22_000, 60_000])) for _ in range(200)]
    stock = _mine_programs(monkeypatch, False, programs)
    lean = _mine_programs(monkeypatch, True, programs)
    for (sh, sr), (fh, fr) in zip(stock, lean):
        assert sr == fr
        assert sh == fh
    results = [r for _, block in lean for r in block]
    errors = [r[3] for r in results if not r[0]]
    assert sum(r[0] for r in results) >= 40 and len(errors) >= 40  # both outcomes, often
    for kind in ("InsufficientStack", "out of gas"):
        assert any(kind in e for e in errors), kind


def test_a_mined_blocks_state_is_freed_without_the_cycle_collector(monkeypatch):
    """The lean pieces set on a block's state make no reference cycle (closures holding the
    account DB did: every block's state then stayed alive until the cyclic GC ran)."""
    import gc
    import weakref

    refs = []
    real = lean_exec.block_executor

    def spy(state):
        ex = real(state)
        refs.append(weakref.ref(state._account_db))
        kinds.append(type(state._account_db).__name__)
        return ex

    kinds: list = []
    monkeypatch.setattr(block_builder, "block_executor", spy)
    chain = Chain.ephemeral()
    a = [acct.address for acct in chain.accounts]
    gc.collect()
    gc.disable()
    try:
        for _ in range(4):
            chain.transact(a[0], a[1], b"", 1, 21_000)
        assert kinds == ["_LeanAccountDB"] * 4
        assert [r() for r in refs[:-1]] == [None, None, None]
    finally:
        gc.enable()
