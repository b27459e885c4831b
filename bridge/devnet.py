"""A local multi-chain network in one command, with fixed dev keys.

    aivm devnet (or python -m bridge.devnet) [--dir .aivm/devnet] [--attesters 3] [--no-solana] [--aivm2]
                [--polygon-client hardhat|anvil]

brings up, on free local ports:
  * AIVM (`aivm start`, chain 31337) with the bridge hub and its guardian set;
  * `ethereum` (Anvil, chain 31001) and `polygon` (Hardhat 3's `hardhat node` on Node 22, chain 31137):
    two different EVM clients that know nothing of AIVM (bridge/peers.py installs both from npm);
  * `solana` (LiteSVM behind Solana JSON-RPC, bridge/solana/server.py), unless --no-solana;
  * optionally `aivm2`, a second AIVM node (chain 31338);
  * a PQCBridge on every EVM chain (PQC certificates on AIVM, an ECDSA quorum of the
    guardians' secp256k1 keys elsewhere), wrapped tokens for every other chain's coin,
    lanes and rate limits wired both ways; on Solana an SPL mint per EVM coin whose mint
    authority is an SPL multisig of the guardians' ed25519 keys;
  * attester processes (one per validator keystore) and a relayer.
Everything is written to DIR/devnet.json; Ctrl-C stops it all.

Mining: Anvil and Hardhat both mine a block per transaction (automine), and mine
nothing while idle, so a lane waiting for N > 1 confirmations would wait for other
traffic. Hardhat therefore also mines an (empty) block every HARDHAT_INTERVAL_MS
(its "automine + interval" mode): a transaction's receipt comes at once and its
confirmations accrue with time, as on a live chain. With `block_time` (the
benchmark's "a block a second") both mine only on that interval.

Dev keys: EVM accounts from the standard `test … junk` mnemonic (deployer = account 9,
relayer = account 8, users = accounts 0-7); validator keystores are created once in DIR
with the password in DIR/validators/password.
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import rlp
from eth_account import Account
from eth_hash.auto import keccak

from bridge.evm import EvmClient, calldata, deploy_data
from bridge.keys import AttesterKeys
from interop.message import NATIVE_TOKEN, word

ROOT = Path(__file__).resolve().parent.parent
MNEMONIC = "test test test test test test test test test test test junk"
Account.enable_unaudited_hdwallet_features()
DEPLOYER_INDEX, RELAYER_INDEX = 9, 8
CHAIN_IDS = {"aivm": 31337, "ethereum": 31001, "polygon": 31137, "aivm2": 31338, "solana": 900001}
NATIVE = "0x" + NATIVE_TOKEN[12:].hex()
RATE_LIMIT = 10**24
PASSWORD = "aivm-devnet"
FOREIGN_CLIENTS = {"ethereum": "anvil", "polygon": "hardhat"}
HARDHAT_INTERVAL_MS = 1000


def dev_key(index: int) -> str:
    return "0x" + Account.from_mnemonic(MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}").key.hex()


def dev_address(index: int) -> str:
    return Account.from_key(dev_key(index)).address


def create_address(sender: str, nonce: int) -> str:
    return "0x" + keccak(rlp.encode([bytes.fromhex(sender[2:]), nonce]))[12:].hex()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def anvil_binary() -> Path:
    from bridge import peers

    binary = peers.anvil_binary()
    if binary is None:
        errors = peers.install(only=("anvil",))
        binary = peers.anvil_binary()
        if binary is None:
            raise RuntimeError(f"anvil could not be installed: {errors.get('anvil')}")
    return binary


def hardhat_command() -> tuple[list[str], Path, dict]:
    """argv prefix (node 22 + hardhat's cli), cwd (the Hardhat project) and env for `hardhat node`."""
    from bridge import peers

    errors = peers.install(only=("node22", "hardhat"))  # idempotent: writes the config, skips what is there
    if peers.hardhat_cli() is None or peers.node22() is None:
        raise RuntimeError(f"hardhat 3 could not be installed: {errors.get('hardhat')}")
    return [str(peers.node22()), str(peers.hardhat_cli()), "node"], peers.PEERS_DIR, dict(peers.QUIET_ENV)


@dataclass
class Proc:
    name: str
    proc: subprocess.Popen
    log: Path

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, sig: int = signal.SIGTERM, grace: float = 10.0) -> None:
        if self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)
        try:
            self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)

    def tail(self, n: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


@dataclass
class Chain:
    name: str
    kind: str
    chain_id: int
    url: str
    bridge: str = ""
    wrapped: dict = field(default_factory=dict)   # origin chain name -> wrapped token address here
    confirmations: int = 1
    bridge_word: str = ""   # Solana: the 32-byte bridge identity (hex) that messages name
    client: str = ""        # anvil, hardhat, aivm, litesvm


def _spawn(name: str, argv: list[str], log_dir: Path, env: dict | None = None, cwd: Path = ROOT) -> Proc:
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"{name}.log"
    fh = open(log, "ab")
    proc = subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT, cwd=cwd, start_new_session=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})})
    fh.close()
    return Proc(name, proc, log)


def _wait_rpc(p: Proc, url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    client = EvmClient(url, timeout=2)
    while time.monotonic() < deadline:
        if not p.alive():
            raise RuntimeError(f"{p.name} exited (code {p.proc.returncode}):\n{p.tail()}")
        try:
            client.chain_id()
            return
        except Exception:
            time.sleep(0.1)
    raise RuntimeError(f"{p.name} did not answer within {timeout:.0f} s:\n{p.tail()}")


class Devnet:
    def __init__(self, directory: "str | Path", *, attesters: int = 3, solana: bool = True, aivm2: bool = False,
                 confirmations: dict[str, int] | None = None, ai: bool = False, relayer: bool = True,
                 block_time: float | None = None,
                 clients: dict[str, str] | None = None) -> None:
        self.dir = Path(directory).resolve()
        self.n_attesters = attesters
        self.with_solana = solana
        self.with_aivm2 = aivm2
        self.confirmations = confirmations or {}
        self.ai = ai
        self.with_relayer = relayer
        self.block_time = block_time   # seconds a block on the foreign EVM chains (None: automine)
        self.clients = {**FOREIGN_CLIENTS, **(clients or {})}
        self.procs: dict[str, Proc] = {}
        self.chains: dict[str, Chain] = {}
        self.keys: list[AttesterKeys] = []
        self.keystores: list[Path] = []
        self.logs = self.dir / "logs"

    # -- lifecycle --
    def __enter__(self) -> "Devnet":
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> "Devnet":
        self.dir.mkdir(parents=True, exist_ok=True)
        self._keystores()
        self._start_foreign()
        self._deploy_foreign_bridges()
        names = ["aivm"] + (["aivm2"] if self.with_aivm2 else [])
        for name in names:  # every node's config lists every lane, so plan them all first
            self._plan_aivm(name)
        for name in names:
            self._start_aivm(name)
        self._wire()
        self._set_mining()
        if self.with_solana:
            self.write_solana_policy()
        for i in range(self.n_attesters):
            self.start_attester(i)
        if self.with_relayer:
            self.start_relayer()
        self._write_summary()
        return self

    def stop(self) -> None:
        """SIGTERM everything at once, then wait for each (SIGKILL after its grace)."""
        procs = [self.procs[n] for n in reversed(list(self.procs))]
        for p in procs:
            if p.alive():
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.proc.pid, signal.SIGTERM)
        for p in procs:
            p.stop()

    # -- parts --
    def _keystores(self) -> None:
        from pqc import keystore
        from pqc.keys import KeySet

        vdir = self.dir / "validators"
        vdir.mkdir(parents=True, exist_ok=True)
        (vdir / "password").write_text(PASSWORD + "\n")
        for i in range(self.n_attesters):
            path = vdir / f"validator-{i}.json"
            if not path.exists():
                keystore.save(keystore.create(KeySet.generate("Enhanced", with_kem=False), PASSWORD,
                                              scrypt_n=2**10), path)
            self.keystores.append(path)
            self.keys.append(AttesterKeys.from_keyset(keystore.load(path).unlock(PASSWORD)))

    def _start_foreign(self) -> None:
        for name in ("ethereum", "polygon"):
            port = free_port()
            client = self.clients[name]
            if client == "anvil":
                argv = [str(anvil_binary()), "--host", "127.0.0.1", "--port", str(port),
                        "--chain-id", str(CHAIN_IDS[name]), "--silent", "--accounts", "10"]
                if self.block_time:
                    argv += ["--block-time", str(self.block_time)]
                p = _spawn(name, argv, self.logs)
            elif client == "hardhat":
                # the chain id is the node task's own option; accounts are Hardhat's defaults, which
                # come from the same `test ... junk` mnemonic as Anvil's (20 of them, 10,000 ETH each)
                prefix, cwd, env = hardhat_command()
                p = _spawn(name, prefix + ["--hostname", "127.0.0.1", "--port", str(port),
                                           "--chain-id", str(CHAIN_IDS[name])], self.logs, env, cwd)
            else:
                raise ValueError(f"{name}: unknown EVM client {client!r} (anvil or hardhat)")
            self.procs[name] = p
            url = f"http://127.0.0.1:{port}"
            _wait_rpc(p, url, timeout=90)
            if client == "hardhat":  # `hardhat node` logs every request: the devnet's attesters poll
                EvmClient(url).rpc("hardhat_setLoggingEnabled", False)
            self.chains[name] = Chain(name, "evm", CHAIN_IDS[name], url,
                                      confirmations=self.confirmations.get(name, 1), client=client)
        if self.with_solana:
            url = self._start_solana(free_port())
            self.chains["solana"] = Chain("solana", "solana", CHAIN_IDS["solana"], url,
                                          confirmations=self.confirmations.get("solana", 1), client="litesvm")

    def _start_solana(self, port: int) -> str:
        from bridge.solana import devnet as sol

        p = _spawn("solana", [sys.executable, "-m", "bridge.solana.server", "--port", str(port),
                              "--state", str(self.dir / "solana")], self.logs)
        self.procs["solana"] = p
        url = f"http://127.0.0.1:{port}"
        sol.wait_ready(p, url)
        return url

    def restart_solana(self, sig: int = signal.SIGTERM) -> None:
        """Stop the Solana chain (SIGKILL with sig=9) and start it again on its port and state directory."""
        self.procs["solana"].stop(sig)
        self._start_solana(int(self.chains["solana"].url.rsplit(":", 1)[1]))

    def _guardian_addresses(self) -> list[str]:
        return sorted((k.evm_address for k in self.keys), key=lambda a: int(a, 16))

    def _deploy_foreign_bridges(self) -> None:
        deployer = dev_key(DEPLOYER_INDEX)
        for c in self.chains.values():
            if c.kind != "evm":
                continue
            client = EvmClient(c.url)
            before = client_nonce(client)
            client.send(deployer, None, deploy_data("PQCBridge", False, self._guardian_addresses(),
                                                    [1] * len(self.keys)))
            c.bridge = create_address(dev_address(DEPLOYER_INDEX), before)
            assert client.code(c.bridge), f"{c.name}: no bridge at {c.bridge}"
        if self.with_solana:
            from bridge.solana import devnet as sol

            sol.create_mints(self)

    def _config(self, own: str) -> Path:
        lines = ["[aivm]", f"enabled = {'true' if self.ai else 'false'}", "", "[interoperability]",
                 'supported_chains = ["ethereum", "polygon", "solana"]', "bridge_enabled = true",
                 "cross_chain_gas_limit = 1000000",
                 'guardian_source = "governance"',  # devnet attesters are not AI validators: sets by RPC
                 ""]
        for c in self.chains.values():
            lines += [f"[interoperability.chains.{c.name}]", f'kind = "{c.kind}"', f'rpc_url = "{c.url}"',
                      f"chain_id = {c.chain_id}", f"confirmations = {c.confirmations}",
                      f'bridge_address = "{c.bridge}"', ""]
        path = self.dir / f"{own}-config.toml"
        path.write_text("\n".join(lines))
        return path

    def _plan_aivm(self, name: str) -> None:
        url = f"http://127.0.0.1:{free_port()}"
        # the AIVM bridge is the deployer's first contract there: its address is known before the node starts
        bridge = create_address(dev_address(DEPLOYER_INDEX), 0)
        self.chains[name] = Chain(name, "aivm", CHAIN_IDS[name], url, bridge,
                                  confirmations=self.confirmations.get(name, 1), client="aivm")

    def _start_aivm(self, name: str) -> None:
        c = self.chains[name]
        url, bridge = c.url, c.bridge
        data = self.dir / f"{name}-data"
        cfg = self._config(name)
        argv = [sys.executable, "-m", "app.cli", "start", "--config", str(cfg), "--port", url.rsplit(":", 1)[1],
                "--chain-id", str(CHAIN_IDS[name]), "--data-dir", str(data), "--validators", "0"]
        p = _spawn(name, argv, self.logs)
        self.procs[name] = p
        _wait_rpc(p, url, timeout=120)
        client = EvmClient(url)
        if not client.code(bridge):
            client.send(dev_key(DEPLOYER_INDEX), None, deploy_data("PQCBridge", True, [], []))
            assert client.code(bridge), f"{name}: bridge not at {bridge}"
        node = self.node_rpc(name)
        if node("synergy_getBridgeLanes")["guardian_set"] is None:
            node("synergy_setBridgeGuardians", ["0x" + k.pqc.signing_keys().encode().hex() for k in self.keys])

    def restart_aivm(self, name: str = "aivm", sig: int = signal.SIGTERM) -> None:
        """Stop an AIVM node (SIGKILL with sig=9) and start it again on the same port and data dir."""
        c = self.chains[name]
        self.procs[name].stop(sig)
        port = c.url.rsplit(":", 1)[1]
        argv = [sys.executable, "-m", "app.cli", "start", "--config", str(self.dir / f"{name}-config.toml"),
                "--port", port, "--chain-id", str(c.chain_id), "--data-dir", str(self.dir / f"{name}-data"),
                "--validators", "0"]
        self.procs[name] = _spawn(name, argv, self.logs)
        _wait_rpc(self.procs[name], c.url, timeout=120)

    def _wire(self) -> None:
        """Lanes both ways, wrapped tokens for every other EVM coin, rate limits for every route."""
        from concurrent.futures import ThreadPoolExecutor

        evm = [c for c in self.chains.values() if c.kind in ("evm", "aivm")]
        with ThreadPoolExecutor(len(evm)) as pool:  # chains are independent: wire them at once
            list(pool.map(lambda c: self._wire_chain(c, evm), evm))
        if self.with_solana:
            from bridge.solana import devnet as sol

            sol.wire(self)

    def _wire_chain(self, c: Chain, evm: list) -> None:
        deployer = dev_key(DEPLOYER_INDEX)
        client = EvmClient(c.url)
        if client.view(c.bridge, "PQCBridge", "remoteBridge", evm[0].chain_id if c is not evm[0] else evm[1].chain_id) != b"\0" * 32:
            for o in evm:  # already wired (a restarted devnet): read the wrapped tokens back
                if o is not c:
                    c.wrapped[o.name] = client.view(c.bridge, "PQCBridge", "wrappedOf",
                                                    keccak(_enc(o.chain_id, word(NATIVE))))
            return
        peers = [o for o in self.chains.values() if o is not c]
        for o in peers:
            remote = word(o.bridge) if o.kind != "solana" else bytes.fromhex(o.bridge_word)
            client.send(deployer, c.bridge, calldata("PQCBridge", "setRemoteBridge", o.chain_id, remote))
        for origin in evm:
            if origin is c:
                continue
            before = client_nonce(client)
            client.send(deployer, None, deploy_data("WrappedToken", f"{origin.name} coin on {c.name}",
                                                    f"w{origin.name[:3].upper()}", 18, bytes.fromhex(c.bridge[2:])))
            wrapped = create_address(dev_address(DEPLOYER_INDEX), before)
            c.wrapped[origin.name] = wrapped
            client.send(deployer, c.bridge, calldata("PQCBridge", "registerWrapped", origin.chain_id,
                                                     word(NATIVE), bytes.fromhex(wrapped[2:])))
        for peer in peers:
            for origin in evm:
                client.send(deployer, c.bridge, calldata("PQCBridge", "setRateLimit", peer.chain_id,
                                                         origin.chain_id, word(NATIVE), RATE_LIMIT))

    def _set_mining(self) -> None:
        """Hardhat: automine plus an interval block, or only the interval with `block_time`
        (set after wiring, so deployment does not wait a block per transaction)."""
        for c in self.chains.values():
            if c.client != "hardhat":
                continue
            client = EvmClient(c.url)
            if self.block_time:
                client.rpc("evm_setAutomine", False)
            client.rpc("evm_setIntervalMining", int((self.block_time or HARDHAT_INTERVAL_MS / 1000) * 1000))

    def solana_policy_path(self) -> Path:
        from bridge.solana.policy import FILE_NAME

        return self.dir / "attesters" / FILE_NAME

    def write_solana_policy(self, limit: int = RATE_LIMIT, paused: bool = False) -> Path:
        """The attesters' policy for mints on Solana (all devnet attesters share this file):
        every EVM lane's coin, from every EVM lane, `limit` an hour."""
        from bridge.solana.policy import Policy

        evm = [c.chain_id for c in self.chains.values() if c.kind in ("evm", "aivm")]
        policy = Policy(paused=paused, limits={(src, origin, NATIVE_TOKEN): limit
                                               for src in evm for origin in evm})
        policy.save(self.solana_policy_path())
        return self.solana_policy_path()

    def start_attester(self, i: int) -> Proc:
        p = _spawn(f"attester-{i}", [sys.executable, "-m", "bridge.attester", "--rpc", self.chains["aivm"].url,
                                     "--keystore", str(self.keystores[i]), "--password-file",
                                     str(self.dir / "validators" / "password"), "--state",
                                     str(self.dir / "attesters")], self.logs)
        self.procs[f"attester-{i}"] = p
        return p

    def start_relayer(self) -> Proc:
        argv = [sys.executable, "-m", "bridge.relayer", "--rpc", self.chains["aivm"].url, "--key", dev_key(RELAYER_INDEX)]
        if self.with_solana:
            from bridge.solana.devnet import RELAYER_SEED

            argv += ["--solana-payer", RELAYER_SEED.hex()]
        p = _spawn("relayer", argv, self.logs)
        self.procs["relayer"] = p
        return p

    # -- helpers for tools and tests --
    def node_rpc(self, name: str = "aivm"):
        client = EvmClient(self.chains[name].url, timeout=60)
        return client.rpc

    def client(self, name: str) -> EvmClient:
        return EvmClient(self.chains[name].url)

    def summary(self) -> dict:
        return {"chains": {n: {"kind": c.kind, "client": c.client, "chain_id": c.chain_id, "rpc_url": c.url,
                               "bridge": c.bridge, "wrapped": c.wrapped} for n, c in self.chains.items()},
                "guardians": self._guardian_addresses(),
                "dev_accounts": {str(i): dev_address(i) for i in range(8)},
                "processes": {n: p.proc.pid for n, p in self.procs.items()}, "logs": str(self.logs)}

    def _write_summary(self) -> None:
        (self.dir / "devnet.json").write_text(json.dumps(self.summary(), indent=2))

    def wait_status(self, transfer_id: str, want: str = "delivered", timeout: float = 60.0) -> dict:
        deadline = time.monotonic() + timeout
        rpc = self.node_rpc()
        st = {}
        while time.monotonic() < deadline:
            st = rpc("synergy_getCrossChainTransferStatus", transfer_id)
            if st["status"] == want:
                return st
            time.sleep(0.1)
        raise TimeoutError(f"{transfer_id} still {st.get('status')} ({st.get('reason')}) after {timeout:.0f} s")


def _enc(chain_id: int, token: bytes) -> bytes:
    from eth_abi import encode

    return encode(["uint256", "bytes32"], [chain_id, token])


def client_nonce(client: EvmClient) -> int:
    return int(client.rpc("eth_getTransactionCount", dev_address(DEPLOYER_INDEX), "latest"), 16)


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m bridge.devnet", description=__doc__.split("\n")[0])
    p.add_argument("--dir", default=".aivm/devnet")
    p.add_argument("--attesters", type=int, default=3)
    p.add_argument("--no-solana", action="store_true")
    p.add_argument("--aivm2", action="store_true", help="also a second AIVM node (chain 31338)")
    p.add_argument("--ai", action="store_true", help="enable distributed AI on the AIVM node")
    p.add_argument("--polygon-client", choices=("hardhat", "anvil"), default=FOREIGN_CLIENTS["polygon"],
                   help="the EVM client that serves `polygon` (default: hardhat)")
    args = p.parse_args(argv)
    started = time.monotonic()
    net = Devnet(args.dir, attesters=args.attesters, solana=not args.no_solana, aivm2=args.aivm2, ai=args.ai,
                 clients={"polygon": args.polygon_client})
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    try:
        net.start()
        s = net.summary()
        print(f"devnet up in {time.monotonic() - started:.1f} s ({args.dir}/devnet.json)")
        for name, c in s["chains"].items():
            print(f"  {name:9} {c['client']:8} chain {c['chain_id']:>7}  {c['rpc_url']}  bridge {c['bridge']}")
        print(f"  guardians {', '.join(s['guardians'])}")
        print(f"  user account 0: {s['dev_accounts']['0']} (key {dev_key(0)})")
        print("Ctrl-C stops everything", flush=True)
        while not stop:
            dead = [n for n, pr in net.procs.items() if not pr.alive()]
            if dead:
                print(f"{', '.join(dead)} exited; see {net.logs}", file=sys.stderr)
                break
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        net.stop()
    return 0


def click_command():
    """`aivm devnet …`: the same as `python -m bridge.devnet …`."""
    import click

    @click.command("devnet", context_settings={"ignore_unknown_options": True, "help_option_names": []})
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    def devnet(args) -> None:
        """Local multi-chain bridge network: AIVM, Anvil, Hardhat, Solana, attesters, relayer (--help for options)."""
        raise SystemExit(main(list(args)))

    return devnet


if __name__ == "__main__":
    raise SystemExit(main())
