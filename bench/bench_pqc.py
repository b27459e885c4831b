"""PQC benchmark: primitives, bundles, quorum certificates, precompile overhead, gas.

    .venv/bin/python -m bench.bench_pqc [--quick] [--markdown FILE]

All times are CPU time of the benchmark thread (`time.thread_time`), so load
from other processes on a shared machine does not count. Gas method: ecrecover
(eth-keys, coincurve backend) and each verify are timed in alternating
batches; the median of the per-round ratios times 3000 gives the suggested price (pqc.gas.price: rounded up to 100, floor 3000), printed next
to the configured one. Precompile overhead is `Precompile.__call__` (gas
function, strict ABI decode, dispatch, verify) over the raw pqcrypto verify,
measured the same alternating way in this run.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
from types import SimpleNamespace

from eth_abi import encode
from eth_keys import KeyAPI
from eth_keys.backends import CoinCurveECCBackend
from rich.console import Console
from rich.table import Table

import precompiles
from pqc import algorithms as alg
from pqc import bundle, gas, quorum, seal, validators
from pqc.keys import KeySet
from pqc.levels import SecurityLevel

MESSAGE = os.urandom(32)


CLOCK = time.thread_time
"""CPU time of this thread: on a shared machine, wall time mostly measures the
other processes; CPU time measures the work (all timed code is single-threaded)."""


def median_time(fn, reps: int, inner: int = 1) -> float:
    samples = []
    for _ in range(reps):
        t = CLOCK()
        for _ in range(inner):
            fn()
        samples.append((CLOCK() - t) / inner)
    return statistics.median(samples)


def ratio(base, other, rounds: int, inner_base: int, inner_other: int) -> float:
    """Median over rounds of time(other)/time(base), batches alternating to cancel drift."""
    ratios = []
    for _ in range(rounds):
        tb = median_time(base, 1, inner_base)
        ratios.append(median_time(other, 1, inner_other) / tb)
    return statistics.median(ratios)


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3f}"


class Report:
    def __init__(self) -> None:
        self.console = Console(width=150)
        self.markdown: list[str] = []

    def table(self, title: str, columns: list[str], rows: list[list[str]]) -> None:
        t = Table(title=title)
        for c in columns:
            t.add_column(c, justify="right" if c != columns[0] else "left")
        for r in rows:
            t.add_row(*r)
        self.console.print(t)
        self.markdown += [f"#### {title}", "", "| " + " | ".join(columns) + " |",
                          "|" + "---|" * len(columns)]
        self.markdown += ["| " + " | ".join(r) + " |" for r in rows]
        self.markdown.append("")


def bench_primitives(report: Report, quick: bool) -> None:
    rows = []
    for a in alg.SIGNATURES.values():
        slow_sign = a.family == "SLH-DSA" and a.name.endswith("s")
        pk, sk = a.keygen()
        sig = a.sign(sk, MESSAGE)
        kg = median_time(a.keygen, 3 if slow_sign else (5 if quick else 15))
        sg = median_time(lambda: a.sign(sk, MESSAGE), 3 if slow_sign else (5 if quick else 15))
        vf = median_time(lambda: a.verify(pk, MESSAGE, sig), 5 if quick else 15,
                         5 if a.family == "SLH-DSA" else 50)
        rows.append([a.name, ms(kg), ms(sg), ms(vf), str(a.public_key_size), str(len(sig))])
    report.table("Signatures (CPU ms, median)", ["algorithm", "keygen", "sign", "verify",
                                             "public key B", "signature B"], rows)
    rows = []
    for k in alg.KEMS.values():
        big = k.family == "Classic-McEliece"
        pk, sk = k.keygen()
        ct, _ = k.encaps(pk)
        kg = median_time(k.keygen, 2 if "6688128" in k.name else (3 if big else 15))
        en = median_time(lambda: k.encaps(pk), 5 if quick else 15, 20)
        de = median_time(lambda: k.decaps(sk, ct), 5, 3 if big else 20)
        rows.append([k.name, ms(kg), ms(en), ms(de), str(k.public_key_size), str(k.ciphertext_size)])
    report.table("KEMs (CPU ms, median)", ["algorithm", "keygen", "encaps", "decaps",
                                       "public key B", "ciphertext B"], rows)


def bench_gas(report: Report, quick: bool) -> None:
    api = KeyAPI(CoinCurveECCBackend)
    h = os.urandom(32)
    sig = api.PrivateKey(os.urandom(32)).sign_msg_hash(h)
    ecrecover = lambda: api.ecdsa_recover(h, sig)  # noqa: E731
    ec_time = median_time(ecrecover, 7, 500)
    rows = []
    for a in alg.SIGNATURES.values():
        pk, sk = a.keygen()
        s = a.sign(sk, MESSAGE)
        inner = 4 if a.family == "SLH-DSA" else 100
        r = ratio(ecrecover, lambda: a.verify(pk, MESSAGE, s), 5 if quick else 15, 300, inner)
        configured = gas.VERIFY_GAS[a.name]
        suggested = gas.price(r)
        drift = f"{100 * (configured - suggested) / suggested:+.0f}%"
        rows.append([a.name, f"{r:.2f}", str(suggested), str(configured), drift])
    report.table(f"Gas vs ecrecover ({ec_time * 1e6:.1f} µs CPU here = 3000 gas)",
                 ["algorithm", "verify / ecrecover", "suggested gas", "configured gas",
                  "configured vs suggested"], rows)


def _fake_computation(data: bytes):
    comp = SimpleNamespace(msg=SimpleNamespace(data_as_bytes=data, sender=b"", value=0,
                                               is_static=True), output=b"")
    comp.consume_gas = lambda amount, reason: None
    return comp


def bench_overhead(report: Report, quick: bool) -> None:
    rows = []
    family_precompile = {"ML-DSA": "pqc_mldsa_verify", "Falcon": "pqc_falcon_verify",
                         "SLH-DSA": "pqc_slhdsa_verify"}
    for name in ("ML-DSA-44", "ML-DSA-87", "Falcon-512", "Falcon-1024", "SLH-DSA-SHA2-128s"):
        a = alg.signature(name)
        pk, sk = a.keygen()
        s = a.sign(sk, MESSAGE)
        data = encode(["uint16", "bytes", "bytes", "bytes"], [a.id, pk, MESSAGE, s])
        p = precompiles.by_name(family_precompile[a.family])
        comp = _fake_computation(data)
        raw = lambda: a._verify(pk, MESSAGE, s)  # noqa: E731 - the pqcrypto call itself
        inner = 5 if a.family == "SLH-DSA" else 200
        r = ratio(raw, lambda: p(comp), 7 if quick else 15, inner, inner)
        assert comp.output == (1).to_bytes(32, "big")
        rows.append([name, ms(median_time(raw, 5, inner)), ms(median_time(lambda: p(comp), 5, inner)),
                     f"{r:.3f}x"])
    report.table("Precompile overhead (CPU ms per call)", ["algorithm", "raw pqcrypto verify",
                                                       "precompile call", "ratio"], rows)


class Storage(dict):
    def read(self, address: bytes, slot: int) -> int:
        return self.get((address, slot), 0)


def bench_levels(report: Report, quick: bool) -> None:
    bundle_rows, quorum_rows, seal_rows = [], [], []
    for level in SecurityLevel:
        signers = [KeySet.generate(level, with_kem=False) for _ in range(7)]
        b = bundle.sign(signers[0], MESSAGE)
        keys = signers[0].signing_keys()
        sign_t = median_time(lambda: bundle.sign(signers[0], MESSAGE), 1 if level >= 3 else 5)
        verify_t = median_time(lambda: bundle.verify(b, keys, MESSAGE, level), 5 if quick else 11)
        bundle_rows.append([level.title, ms(sign_t), ms(verify_t), str(len(b.encode())),
                            str(gas.bundle_gas(level))])

        storage = Storage()
        for s in signers:
            for address, slot, value in validators.registration_writes(s.signing_keys(), storage.read):
                storage[(address, slot)] = value
        cert = quorum.QuorumCertificate.build(MESSAGE, level, signers).encode()
        offchain = median_time(lambda: quorum.verify(cert, storage.read), 3 if level >= 3 else 7)
        result = quorum.verify(cert, storage.read)
        assert result.passed and result.signers == 7
        p = precompiles.by_name("pqc_quorum_verify")
        comp = _fake_computation(cert)
        comp.state = SimpleNamespace(get_storage=storage.read)
        onchain = median_time(lambda: p(comp), 3 if level >= 3 else 7)
        assert comp.output == result.abi_output()
        # the same votes against a stake-weighted epoch (the AI stage sets): one stake read per vote
        weighted = Storage()
        for address, slot, value in validators.snapshot_writes(
                1, 1, {s.signing_keys().key_hash: (i + 1) * 10**18 for i, s in enumerate(signers)}):
            weighted[(address, slot)] = value
        wcert = quorum.QuorumCertificate.build(MESSAGE, level, signers, set_id=1, epoch=1).encode()
        wcomp = _fake_computation(wcert)
        wcomp.state = SimpleNamespace(get_storage=weighted.read)
        w_on = median_time(lambda: p(wcomp), 3 if level >= 3 else 7)
        assert quorum.verify(wcert, weighted.read).passed
        quorum_rows.append([level.title, ms(offchain), ms(onchain), ms(w_on), f"{w_on / onchain:.2f}x",
                            str(len(cert)), str(p.gas(cert))])

        if level.suite.kems:
            recipient = KeySet.generate(level)
            payload = os.urandom(1024)
            sealed = seal.seal(payload, recipient.kem_keys(), sender=b"s", recipient=b"r")
            st = median_time(lambda: seal.seal(payload, recipient.kem_keys(), sender=b"s",
                                               recipient=b"r"), 5)
            ot = median_time(lambda: seal.open_sealed(sealed, recipient), 3 if level == 4 else 7)
            seal_rows.append([level.title, ms(st), ms(ot), str(len(sealed.encode()) - len(payload))])
    report.table("Signature bundles (CPU ms)", ["level", "sign", "verify", "bytes", "gas (0x0113)"],
                 bundle_rows)
    report.table("7-validator quorum certificate (CPU ms)", ["level", "verify (Python API)",
                                                         "precompile 0x0118", "0x0118 stake-weighted",
                                                         "weighted / head-count", "bytes", "gas"],
                 quorum_rows)
    report.table("Sealed messages, 1 KiB payload (CPU ms)", ["level", "seal", "open", "overhead B"],
                 seal_rows)


def run(quick: bool) -> str:
    """Every PQC benchmark; returns the markdown section (the bench.run convention)."""
    report = Report()
    started = time.perf_counter()
    bench_primitives(report, quick)
    bench_gas(report, quick)
    bench_overhead(report, quick)
    bench_levels(report, quick)
    report.console.print(f"done in {time.perf_counter() - started:.0f} s")
    load = os.getloadavg()[0]
    head = ["## Post-quantum cryptography", "",
            f"{os.cpu_count()} cores, load average {load:.2f}; CPU time of the benchmark's thread, "
            f"{'quick' if quick else 'full'} run. Gas = 3000 × (verify time / ecrecover time), floor 3000.", ""]
    return "\n".join(head + report.markdown) + "\n"


def main(quick: "bool | None" = None) -> "str | None":
    """`python -m bench.bench_pqc [--quick] [--markdown FILE]`, or main(quick) from bench.run."""
    if quick is not None:
        return run(quick)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--markdown", help="also write the tables as markdown to this file")
    args = parser.parse_args()
    text = run(args.quick)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text)
    return None


if __name__ == "__main__":
    main()
