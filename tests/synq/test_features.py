"""Every language feature, compiled and run on the AIVM (py-evm), checking outcomes and reverts."""
from __future__ import annotations

import eth_abi
import pytest
from eth_utils import keccak

import synq
from tests.synq.harness import Env, Reverted

FEATURES = r'''
struct Point { x: uint256, y: int64 }
enum Color { Red, Green, Blue }
error TooBig(value: uint256, limit: uint256);
event Stored(who: indexed address, note: string, nums: uint256[]);
event Tagged(tag: indexed string, n: indexed uint256, flag: bool);

const LIMIT: uint256 = 1000;
const GREETING: string = "hello";
const MASK: bytes4 = hex"ffff0000";
immutable CREATOR: address;
public immutable BIRTH: uint256;
public storage pts: Point[];
public storage color: Color;
storage notes: map[address, string];
public storage grid: map[address, map[uint256, bool]];
storage fixedArr: uint256[3];
public storage counter: uint256;

constructor() { CREATOR = msg.sender; BIRTH = block.number; }

external pure fn add8(a: uint8, b: uint8) -> uint8 { return a + b; }
external pure fn sub(a: uint256, b: uint256) -> uint256 { return a - b; }
external pure fn sdiv(a: int256, b: int256) -> int256 { return a / b; }
external pure fn smod(a: int256, b: int256) -> int256 { return a % b; }
external pure fn powr(a: uint256, b: uint256) -> uint256 { return a ** b; }
external pure fn idx(xs: uint256[], i: uint256) -> uint256 { return xs[i]; }
external pure fn sum(xs: uint256[]) -> uint256 {
    let s: uint256 = 0;
    for i in range(len(xs)) max 100 { s += xs[i]; }
    return s;
}
external pure fn checkBig(v: uint256) -> uint256 { if v > LIMIT { revert TooBig(v, LIMIT); } return v; }
external pure fn need(v: uint256) { require(v != 0, "v is zero"); assert(v != 7); }
external pure fn needCustom(v: uint256) { require(v < 10, TooBig(v, 10)); }
external pure fn dynMessage(s: string) { revert s; }
external pure fn echo(s: string, b: bytes) -> (bytes, string, uint256) { return b, s, len(s); }
external fn addPoint(x: uint256, y: int64) -> uint256 { pts.push(Point(x, y)); return len(pts); }
external fn popPoint() { pts.pop(); }
external view fn getPoint(i: uint256) -> Point { return pts[i]; }
external view fn allPoints() -> Point[] { return pts; }
external view fn creator() -> address { return CREATOR; }
external fn setColor(c: Color) { color = c; }
external pure fn colorOf(i: uint8) -> Color { return Color(i); }
external pure fn isBlue(c: Color) -> bool { return c == Color.Blue; }
external fn note(s: string, nums: uint256[]) { notes[msg.sender] = s; emit Stored(msg.sender, s, nums); }
external fn tag(t: string, n: uint256) { emit Tagged(t, n, n > 5); }
external view fn getNote(a: address) -> string { return notes[a]; }
external fn mark(k: uint256, v: bool) { grid[msg.sender][k] = v; }
external fn setFixed(i: uint256, v: uint256) { fixedArr[i] = v; }
external view fn getFixed() -> uint256[3] { return fixedArr; }
external pure fn hash(s: string) -> bytes32 { return keccak256(s); }
external pure fn multi(a: uint256) -> (uint256, uint256) {
    let q: uint256, r: uint256 = divmod(a, 7);
    return q, r;
}
fn divmod(a: uint256, b: uint256) -> (uint256, uint256) { return a / b, a % b; }
external pure fn loopy() -> uint256 {
    let s: uint256 = 0;
    for i in range(10) { if i == 3 { continue; } if i == 8 { break; } s += i; }
    return s;
}
external pure fn nested() -> uint256 {
    let s: uint256 = 0;
    for i in range(1, 4) { for j in range(3) { s += i * j; } }
    return s;
}
external pure fn bounded(n: uint256) -> uint256 {
    let s: uint256 = 0;
    for i in range(n) max 5 { s += 1; }
    return s;
}
external pure fn neg(a: int8) -> int8 { return -a; }
external pure fn conv(a: uint256) -> uint8 { return uint8(a); }
external pure fn toSigned(a: uint256) -> int256 { return int256(a); }
external pure fn toAddr(a: uint256) -> address { return address(a); }
external pure fn bytesOps(b: bytes32) -> (uint256, bytes4, bytes32) { return uint256(b), bytes4(b) & MASK, bytes32(uint256(b) >> 8); }
external payable fn pay() -> uint256 { return msg.value; }
external view fn bal() -> uint256 { return self.balance; }
external fn bump() -> uint256 { counter += 1; return counter; }
external view fn env() -> (address, address, uint256, uint256, uint256) {
    return msg.sender, tx.origin, block.number, block.timestamp, block.chainid;
}
external pure fn greet() -> string { return GREETING; }
external pure fn strEq(a: string, b: string) -> bool { return a == b; }
external pure fn logic(a: bool, b: bool) -> (bool, bool, bool) { return a && b, a || b, !a; }
external pure fn bits(a: uint256, b: uint256) -> (uint256, uint256, uint256, uint256, uint256, uint256) {
    return a & b, a | b, a ^ b, ~a, a << 3, a >> 3;
}
external pure fn shifts(a: int256) -> (int256, int256) { return a >> 2, a << 1; }
external pure fn minmax(a: int256, b: int256) -> (int256, int256) { return min(a, b), max(a, b); }
external pure fn arr() -> uint256[3] { let a: uint256[3] = [uint256(1), 2, 3]; a[1] = 20; return a; }
external pure fn mem(n: uint256) -> uint256[] {
    let xs: uint256[] = [uint256(1), 2, 3];
    return xs;
}
external pure fn structs(p: Point) -> (uint256, int64, Point) {
    let q: Point = Point(p.x + 1, p.y - 1);
    return p.x, p.y, q;
}
external pure fn encoded(a: uint256, s: string) -> bytes { return abi.encode(a, s); }
external pure fn decoded(b: bytes) -> uint256 { return abi.decode(b, uint256); }
'''


@pytest.fixture(scope="module")
def c(env_session):
    return env_session.deploy(FEATURES, path="features.synq")


def reverts(fn, *a, **k) -> Reverted:
    with pytest.raises(Reverted) as info:
        fn(*a, **k)
    return info.value


def test_checked_arithmetic(c):
    assert c.add8(100, 100) == 200
    assert reverts(c.add8, 200, 100).panic == 0x11
    assert c.sub(5, 3) == 2
    assert reverts(c.sub, 3, 5).panic == 0x11
    assert c.sdiv(-7, 2) == -3
    assert c.smod(-7, 2) == -1
    assert reverts(c.sdiv, 1, 0).panic == 0x12
    assert reverts(c.smod, 1, 0).panic == 0x12
    assert reverts(c.sdiv, -2**255, -1).panic == 0x11
    assert c.powr(3, 5) == 243 and c.powr(0, 0) == 1 and c.powr(2, 255) == 2**255
    assert reverts(c.powr, 2, 256).panic == 0x11
    assert c.neg(5) == -5
    assert reverts(c.neg, -128).panic == 0x11


def test_conversions(c):
    assert c.conv(255) == 255
    assert reverts(c.conv, 256).panic == 0x11
    assert c.toSigned(5) == 5
    assert reverts(c.toSigned, 2**255).panic == 0x11
    assert c.toAddr(0xABC) == "0x" + "0" * 37 + "abc"
    assert reverts(c.toAddr, 2**160).panic == 0x11
    b = bytes(range(1, 33))
    as_int, first4, shifted = c.bytesOps(b)
    assert as_int == int.from_bytes(b, "big")
    assert first4 == b"\x01\x02\x00\x00"
    assert shifted == b"\x00" + b[:31]


def test_arrays_and_bounds(c):
    assert c.idx([1, 2, 3], 2) == 3
    assert reverts(c.idx, [1, 2, 3], 3).panic == 0x32
    assert c.sum([1, 2, 3, 4]) == 10
    assert reverts(c.sum, list(range(101))).reason == "loop bound exceeded"
    assert c.arr() == (1, 20, 3)
    assert c.mem(0) == (1, 2, 3)


def test_loops(c):
    assert c.loopy() == sum(i for i in range(8) if i != 3)
    assert c.nested() == sum(i * j for i in range(1, 4) for j in range(3))
    assert c.bounded(3) == 3
    assert reverts(c.bounded, 6).reason == "loop bound exceeded"


def test_require_assert_revert(c):
    assert c.checkBig(5) == 5
    r = reverts(c.checkBig, 5000)
    assert (r.kind, r.name, r.values) == ("custom", "TooBig", [5000, 1000])
    assert reverts(c.need, 0).reason == "v is zero"
    assert reverts(c.need, 7).panic == 0x01
    c.need(1)
    r = reverts(c.needCustom, 12)
    assert (r.name, r.values) == ("TooBig", [12, 10])
    assert reverts(c.dynMessage, "dynamic " * 9).reason == "dynamic " * 9


def test_dynamic_abi(c):
    assert c.echo("héllo", b"\x01\x02") == (b"\x01\x02", "héllo", len("héllo".encode()))
    assert c.echo("", b"") == (b"", "", 0)
    long = "x" * 100
    assert c.echo(long, bytes(range(70))) == (bytes(range(70)), long, 100)
    assert c.greet() == "hello"
    assert c.strEq("abc", "abc") is True and c.strEq("abc", "abd") is False


def test_structs_and_storage_arrays(env, c):
    assert c.transact("addPoint", 3, -5).value == 1
    assert c.transact("addPoint", 4, 6).value == 2
    assert c.getPoint(1) == (4, 6)
    assert c.pts(0) == (3, -5)
    assert c.allPoints() == ((3, -5), (4, 6))
    assert reverts(c.getPoint, 2).panic == 0x32
    c.transact("popPoint")
    assert c.allPoints() == ((3, -5),)
    c.transact("popPoint")
    assert reverts(c.transact, "popPoint").panic == 0x31
    assert c.structs((7, -3)) == (7, -3, (8, -4))


def test_enums(env, c):
    c.transact("setColor", 2)
    assert c.color() == 2
    assert reverts(c.transact, "setColor", 3).kind == "empty"  # calldata validation
    assert c.colorOf(1) == 1
    assert reverts(c.colorOf, 3).panic == 0x21
    assert c.isBlue(2) is True and c.isBlue(0) is False


def test_mappings_and_events(env, c):
    t = c.transact("note", "a note that is longer than thirty-two bytes, ok", [1, 2, 3])
    assert t.logs == [("Stored", {"who": "0x" + env.accounts[0].hex(),
                                  "note": "a note that is longer than thirty-two bytes, ok", "nums": (1, 2, 3)})]
    assert t.result.logs[0].topics[1] == bytes(12) + env.accounts[0]
    assert c.getNote(env.accounts[0]) == "a note that is longer than thirty-two bytes, ok"
    assert c.getNote(env.accounts[1]) == ""
    c.transact("mark", 7, True, sender=env.accounts[1])
    assert c.grid(env.accounts[1], 7) is True
    assert c.grid(env.accounts[0], 7) is False
    t = c.transact("tag", "label", 9)
    (log,) = t.result.logs
    assert log.topics[1] == keccak(b"label")
    assert log.topics[2] == (9).to_bytes(32, "big")
    assert eth_abi.decode(["bool"], log.data) == (True,)


def test_fixed_storage_array(env, c):
    c.transact("setFixed", 1, 9)
    assert c.getFixed() == (0, 9, 0)
    assert reverts(c.transact, "setFixed", 3, 1).panic == 0x32


def test_internal_calls_and_multiple_returns(c):
    assert c.multi(100) == (14, 2)


def test_immutables_constants_globals(env, c):
    assert c.creator() == "0x" + env.accounts[0].hex()
    assert c.BIRTH() >= 1
    sender, origin, number, ts, chain_id = c.call("env", sender=env.accounts[2])
    assert sender == origin == "0x" + env.accounts[2].hex()
    assert number >= c.BIRTH() and ts > 0 and chain_id == env.chain.config.chain_id


def test_payable_and_value(env, c):
    assert c.transact("pay", value=123).value == 123
    assert c.bal() == 123
    # non-payable functions refuse value
    assert reverts(c.transact, "bump", value=1).kind == "empty"
    assert c.transact("bump").value == 1


def test_hash_logic_bits(c):
    assert c.hash("abc") == keccak(b"abc")
    assert c.logic(True, False) == (False, True, False)
    a, b = 0b1100, 0b1010
    assert c.bits(a, b) == (a & b, a | b, a ^ b, (2**256 - 1) ^ a, a << 3, a >> 3)
    assert c.bits(2**255, 1)[4] == 0  # shifted out
    assert c.shifts(-8) == (-2, -16)
    assert c.minmax(-3, 4) == (-3, 4)


def test_abi_encode_decode(c):
    assert c.encoded(5, "hi") == eth_abi.encode(["uint256", "string"], [5, "hi"])
    assert c.decoded(eth_abi.encode(["uint256"], [77])) == 77
    assert reverts(c.decoded, b"\x01").kind == "empty"


def test_calldata_validation(env, c):
    def raw(data: bytes):
        return env.chain.call(sender=env.accounts[0], to=c.address, data=data)
    sel = keccak(text="add8(uint8,uint8)")[:4]
    assert raw(sel + eth_abi.encode(["uint256", "uint256"], [1, 2])).success
    assert not raw(sel + eth_abi.encode(["uint256", "uint256"], [256, 2])).success  # out of uint8 range
    assert not raw(sel + eth_abi.encode(["uint256"], [1])).success  # too short
    assert not raw(b"\xde\xad\xbe\xef").success  # unknown selector
    assert not raw(b"\x01").success
    sel = keccak(text="logic(bool,bool)")[:4]
    assert not raw(sel + eth_abi.encode(["uint256", "uint256"], [2, 0])).success
    sel = keccak(text="echo(string,bytes)")[:4]
    bad_offset = eth_abi.encode(["uint256", "uint256"], [2**40, 64])
    assert not raw(sel + bad_offset).success
    good = eth_abi.encode(["string", "bytes"], ["ab", b"c"])
    assert raw(sel + good).success
    assert not raw(sel + good[:-32]).success  # truncated tail


def test_abi_json_is_standard(c):
    fns = {f["name"]: f for f in c.output.abi if f["type"] == "function"}
    assert fns["echo"]["inputs"] == [{"name": "s", "type": "string"}, {"name": "b", "type": "bytes"}]
    assert fns["getPoint"]["outputs"][0]["type"] == "tuple"
    assert [x["type"] for x in fns["getPoint"]["outputs"][0]["components"]] == ["uint256", "int64"]
    assert fns["pay"]["stateMutability"] == "payable"
    assert fns["bal"]["stateMutability"] == "view"
    assert fns["grid"]["inputs"] == [{"name": "arg0", "type": "address"}, {"name": "arg1", "type": "uint256"}]
    errors = [e for e in c.output.abi if e["type"] == "error"]
    assert errors == [{"type": "error", "name": "TooBig", "inputs": [{"name": "value", "type": "uint256"},
                                                                       {"name": "limit", "type": "uint256"}]}]
    from web3 import Web3
    w3 = Web3()
    contract = w3.eth.contract(abi=c.output.abi)
    data = contract.encode_abi("echo", args=["x", b"y"])
    assert bytes.fromhex(data[2:])[:4] == keccak(text="echo(string,bytes)")[:4]


def test_storage_layout_and_outputs():
    out = synq.compile_source(FEATURES)
    assert out.storage_layout["pts"] == {"slot": 0, "type": "Point[]", "slots": 1}
    assert out.storage_layout["fixedArr"]["slots"] == 3
    assert out.runtime_bytecode and out.bytecode.find(out.runtime_bytecode) > 0
    assert "SSTORE" in out.asm and "JUMPDEST" not in out.asm.split("\n")[0]
    assert out.source_map["runtime"]


def test_msg_data_and_internal_value_returns(env):
    src = """
    external fn raw(x: uint256) -> bytes { return msg.data; }
    external pure fn twice(x: uint256) -> uint256 { return double(x) + double(1); }
    fn double(x: uint256) -> uint256 { return x * 2; }
    """
    c = env.deploy(src)
    assert c.transact("raw", 5).value == c.calldata("raw", 5)
    assert c.twice(20) == 42


EDGE = """
struct Pair { a: uint256, s: string }
storage pairs: map[uint256, Pair];
fn find(xs: uint256[], want: uint256) -> uint256 {
    for i in range(len(xs)) max 50 {
        for j in range(2) {
            if j == 1 { continue; }
            if xs[i] == want { return i; }
        }
    }
    return 999;
}
external pure fn search(xs: uint256[], want: uint256) -> uint256 { return find(xs, want) + find(xs, want); }
external pure fn defaults() -> (uint256, string, uint256[], bool) {
    let n: uint256;
    let s: string;
    let xs: uint256[];
    let b: bool;
    return n, s, xs, b;
}
external fn store(k: uint256, a: uint256, s: string) { pairs[k] = Pair(a, s); }
external view fn load(k: uint256) -> Pair { return pairs[k]; }
external fn bumpA(k: uint256) -> uint256 { pairs[k].a *= 3; return pairs[k].a; }
external pure fn narrow(a: int8, b: int8) -> (int8, int8, int8, int16) { return a * b, a - b, ~a, int16(a) * 300; }
"""


def test_edge_cases(env):
    c = env.deploy(EDGE)
    assert c.search([5, 6, 7], 7) == 4
    assert c.search([5, 6, 7], 8) == 1998
    assert c.defaults() == (0, "", (), False)
    c.transact("store", 1, 5, "x" * 40)
    assert c.load(1) == (5, "x" * 40)
    assert c.transact("bumpA", 1).value == 15
    assert c.load(1) == (15, "x" * 40)
    assert c.load(2) == (0, "")
    assert c.narrow(-3, 5) == (-15, -8, 2, -900)
    with pytest.raises(Reverted) as info:
        c.narrow(-128, 2)
    assert info.value.panic == 0x11


def test_source_map_points_at_source(env):
    src = "storage x: uint256;\nexternal fn f(a: uint256) {\n    require(a > 1, \"small\");\n    x = a;\n}\n"
    out = synq.compile_source(src)
    lines = {v[0] for v in out.source_map["runtime"].values()}
    assert {3, 4} <= lines
    # the SSTORE's pc maps to line 4
    code = out.runtime_bytecode
    pcs, pc = [], 0
    while pc < len(code):
        op = code[pc]
        pcs.append((pc, op))
        pc += 1 + (op - 0x5F if 0x60 <= op <= 0x7F else 0)
    sstore_pcs = [p for p, op in pcs if op == 0x55]
    smap = {int(k): v for k, v in out.source_map["runtime"].items()}
    nearest = max(k for k in smap if k <= sstore_pcs[0])
    assert smap[nearest][0] == 4


def test_string_and_bytes_mapping_keys(env):
    src = """
    public storage byName: map[string, uint256];
    public storage nested: map[bytes, map[address, bool]];
    external fn set(k: string, v: uint256) { byName[k] = v; }
    external fn flag(k: bytes) { nested[k][msg.sender] = true; }
    """
    c = env.deploy(src)
    c.transact("set", "alpha", 7)
    c.transact("set", "a much longer key that spans more than one word", 9)
    assert c.byName("alpha") == 7 and c.byName("beta") == 0
    assert c.byName("a much longer key that spans more than one word") == 9
    # Solidity's slot rule: keccak256(key . slot)
    slot = int.from_bytes(keccak(b"alpha" + (0).to_bytes(32, "big")), "big")
    assert env.chain.storage(c.address, slot) == 7
    c.transact("flag", b"\x01\x02")
    assert c.nested(b"\x01\x02", env.accounts[0]) is True
    assert c.nested(b"\x01", env.accounts[0]) is False


def test_remaining_globals(env):
    src = """
    external view fn g() -> (address, uint256, uint256, uint256, uint256, bytes32, uint256, uint256, uint256) {
        return block.coinbase, block.basefee, block.gaslimit, tx.gasprice, msg.gas,
               blockhash(block.number - 1), msg.sender.balance, self.codesize, block.prevrandao;
    }
    """
    c = env.deploy(src)
    coinbase, basefee, gaslimit, gasprice, gas, bh, bal, codesize, rand = c.call("g", sender=env.accounts[1])
    head = env.chain.head
    assert coinbase == "0x" + env.chain.config.coinbase.hex()
    assert abs(gaslimit - head.gas_limit) <= head.gas_limit // 1024  # the next block's limit
    assert 0 < gas <= env.chain.config.gas_limit
    assert bh in (head.hash, env.chain.header_at(head.block_number - 1).hash)
    assert bal == env.chain.balance(env.accounts[1])
    assert codesize == len(env.chain.code(c.address))
    assert basefee >= 0 and gasprice >= 0 and rand >= 0
