"""What every precompile is, as plain data: no py-evm, no AI, importable by anything.

One entry a precompile: name, address, how it is called, whether it writes
state, its input/output/gas as the docs show them, and — when contracts reach
it from SynQ — the builtin's name and signature. The registry binds gas and
run functions to these entries (a precompile without one is refused), the docs
table (docs/precompiles.md) is rendered from them, and SynQ's builtin table
(synq/builtins.py) is generated from them: `python -m precompiles.spec
--synq > synq/builtins.py` (a test keeps the file equal to its source).

Adding a precompile: one module in precompiles/ plus one entry here.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class Builtin:
    """How SynQ exposes a precompile: `name(params) -> returns`."""

    name: str  # "ai.infer"
    params: tuple[tuple[str, str], ...]  # ((name, ABI type), ...)
    returns: str  # ABI type of the value the builtin yields
    effect: str  # "call": changes state (not in view/pure); "read": reads state (not in pure); "": pure

    @property
    def signature(self) -> str:
        return f"{self.name}({', '.join(f'{n}: {t}' for n, t in self.params)}) -> {self.returns}"


@dataclass(frozen=True)
class PrecompileSpec:
    name: str
    address: int
    call: str  # "call" or "staticcall": how contracts reach it
    writes_state: bool
    input: str
    output: str
    gas: str
    builtin: Optional[Builtin] = None
    aivm: bool = True  # False: a standard Ethereum precompile that SynQ also exposes

    def doc_row(self) -> str:
        return f"| {self.address:#06x} | {self.name} | {self.input} | {self.output} | {self.gas} |"


_PQC_INPUT = "abi.encode(uint16 algId, bytes publicKey, bytes message, bytes signature)"
PQC_VERIFY = Builtin("pqc.verify", (("alg", "uint16"), ("pubkey", "bytes"), ("msg", "bytes"), ("sig", "bytes")),
                     "bool", "read")

SPECS: tuple[PrecompileSpec, ...] = (
    PrecompileSpec("ecrecover", 0x01, "staticcall", False, "abi.encode(hash, v, r, s)", "the signer, or nothing",
                   "3000 (Ethereum's)",
                   Builtin("ecrecover", (("hash", "bytes32"), ("v", "uint8"), ("r", "bytes32"), ("s", "bytes32")),
                           "address", ""), aivm=False),
    PrecompileSpec("aivm_version", 0x0100, "staticcall", False, "(none)",
                   "abi.encode(string version, uint256 chainId, uint256 precompileCount)", "200"),
    PrecompileSpec("pqc_mldsa_verify", 0x0110, "staticcall", False, f"{_PQC_INPUT}, ML-DSA ids",
                   "uint256 1 valid / 0 not", "per algorithm (docs/pqc.md) + 6/word", PQC_VERIFY),
    PrecompileSpec("pqc_falcon_verify", 0x0111, "staticcall", False, "same, Falcon ids", "uint256 1 / 0",
                   "per algorithm + 6/word", PQC_VERIFY),
    PrecompileSpec("pqc_slhdsa_verify", 0x0112, "staticcall", False, "same, SLH-DSA ids", "uint256 1 / 0",
                   "per algorithm + 6/word", PQC_VERIFY),
    PrecompileSpec("pqc_bundle_verify", 0x0113, "staticcall", False,
                   "abi.encode(uint8 level, bytes keyBundle, bytes message, bytes signatureBundle)", "uint256 1 / 0",
                   "sum over the level's algorithms + 6/word"),
    PrecompileSpec("pqc_quorum_verify", 0x0118, "staticcall", False,
                   "quorum certificate: abi.encode(bytes32 messageHash, uint8 level, uint256 setId, uint256 threshold, "
                   "bytes[] keyBundles, bytes[] signatureBundles, uint256 epoch) (stake-weighted sets: see pqc.md)",
                   "abi.encode(bool passed, uint256 signers, uint256 required, uint256 signedStake, uint256 totalStake, "
                   "uint256 epoch)", "8300 + votes × (bundle + 8100) + 6/word",
                   Builtin("quorum.verify", (("certificate", "bytes"),), "bool", "read")),
    PrecompileSpec("ai_infer", 0x0120, "call", True,
                   "abi.encode(string modelId, bytes input[, uint256 maxTokens])",
                   "abi.encode(bytes result): the validator quorum's answer (reverts after `ai_infer_timeout`)",
                   "2000 + model price (digits_cnn 50000, distributed_ai_model 400000) + 16/input byte",
                   Builtin("ai.infer", (("model", "string"), ("input", "bytes")), "bytes", "call")),
    PrecompileSpec("ai_request", 0x0121, "call", True, "abi.encode(string modelId, bytes input, bytes4 callbackSelector)",
                   "abi.encode(bytes32 requestId); later a callback tx from 0x…0121: callbackSelector(bytes32 "
                   "requestId, bool success, bytes result, bytes certificate)",
                   "25000 + model price + 16/input byte; each extra concurrent request 0.01 ETH"),
    PrecompileSpec("bridge_receive", 0x0130, "call", True,
                   "abi.encode(bytes message, bytes certificate): a bridge message (docs/bridges.md) and a PQC quorum "
                   "certificate over its keccak256, from the guardian set; the caller must be the message's "
                   "destination bridge",
                   "abi.encode(bytes32 digest, uint256 signedWeight, uint256 totalWeight); records the digest so it "
                   "executes once", "4100 + votes × (bundle + 8100) + 40000 + 6/word",
                   Builtin("bridge.receive", (("message", "bytes"), ("certificate", "bytes")), "bytes32", "call")),
    PrecompileSpec("bridge_send", 0x0131, "call", True,
                   "a bridge message with sequence 0, source = this chain and the caller",
                   "the message with the lane's next sequence number", "25000 + 6/word",
                   Builtin("bridge.send", (("message", "bytes"),), "bytes", "call")),
)

BY_ADDRESS = {s.address: s for s in SPECS}


def aivm_specs() -> list[PrecompileSpec]:
    return [s for s in SPECS if s.aivm]


def builtins() -> dict[str, tuple[Builtin, list[int], str]]:
    """{SynQ name: (builtin, addresses, call kind)}; pqc.verify picks among its addresses by algorithm family."""
    out: dict[str, tuple[Builtin, list[int], str]] = {}
    for s in SPECS:
        if s.builtin is not None:
            b, addresses, _ = out.get(s.builtin.name, (s.builtin, [], s.call))
            out[s.builtin.name] = (b, addresses + [s.address], s.call)
    return out


def synq_table() -> str:
    """The text of synq/builtins.py (SynQ is a leaf: it reads a generated copy, never this package)."""
    lines = ['"""SynQ\'s precompile builtins. GENERATED from precompiles/spec.py by `python -m precompiles.spec --synq`:',
             'do not edit (tests/test_precompiles.py keeps it equal to its source)."""',
             "from __future__ import annotations", "", "from typing import NamedTuple", "", "",
             "class Builtin(NamedTuple):",
             "    params: tuple[tuple[str, str], ...]  # (name, ABI type)",
             "    returns: str  # ABI type",
             "    effect: str  # call | read | '' (pure)",
             "    addresses: tuple[int, ...]",
             "    static: bool  # reached with STATICCALL", "", "",
             "BUILTINS: dict[str, Builtin] = {"]
    for name, (b, addresses, call) in sorted(builtins().items()):
        lines.append(f"    {name!r}: Builtin({b.params!r}, {b.returns!r}, {b.effect!r}, "
                     f"({', '.join(f'{a:#06x}' for a in addresses)},), {call == 'staticcall'}),")
    lines.append("}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    if sys.argv[1:] == ["--synq"]:
        sys.stdout.write(synq_table())
    elif sys.argv[1:] == ["--doc"]:
        print("\n".join(s.doc_row() for s in aivm_specs()))
    else:
        sys.exit("usage: python -m precompiles.spec --synq | --doc")
