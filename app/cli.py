"""`aivm`: start a node, manage keys, run a validator."""
from __future__ import annotations

import asyncio
import gc
import logging
import signal
import sys
from pathlib import Path

import click
from rich.console import Console

from vm import config as config_mod
from vm.version import RELEASE

console = Console(stderr=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(RELEASE, prog_name="aivm")
def main() -> None:
    """AIVM: an Ethereum-compatible node whose contracts call AI."""


@main.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="TOML config (default: config/aivm-config.toml if present).")
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="HTTP and WebSocket port (default 8545).")
@click.option("--data-dir", default=None, help="Where the chain lives on disk.")
@click.option("--ephemeral", is_flag=True, help="Keep everything in memory.")
@click.option("--block-time", type=float, default=None, help="Seconds between blocks (0 = automine).")
@click.option("--chain-id", type=int, default=None)
@click.option("--validators", type=int, default=None, help="Local validator processes to start.")
@click.option("--fork-url", default=None, help="Fork this JSON-RPC node's chain (state fetched lazily).")
@click.option("--fork-block-number", type=click.IntRange(min=0), default=None, help="Fork at this block (default: the remote head).")
@click.option("--load-state", "load_state", type=click.Path(dir_okay=False), default=None, help="Load a state dump at start.")
@click.option("--dump-state", "dump_state", type=click.Path(dir_okay=False), default=None, help="Write a state dump at shutdown.")
@click.option("--state", "state_file", type=click.Path(dir_okay=False), default=None, help="Both: load FILE if it exists, dump to it at shutdown.")
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
def start(config_path, host, port, data_dir, ephemeral, block_time, chain_id, validators, fork_url,
          fork_block_number, load_state, dump_state, state_file, verbose) -> None:
    """Run a node: JSON-RPC over HTTP and WebSocket on one port."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        cfg = config_mod.load(config_path, explicit=config_path is not None)
        cfg = config_mod.with_overrides(
            cfg, host=host, port=port, data_dir=data_dir, block_time=block_time,
            chain_id=chain_id, validators=validators,
        )
    except config_mod.ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    from app.cli_state import StartExtras

    extras = StartExtras.from_flags(fork_url, fork_block_number, chain_id, load_state, dump_state, state_file)
    try:
        asyncio.run(_run_node(cfg, ephemeral, extras))
    except RuntimeError as exc:  # e.g. data dir locked or inconsistent
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


async def _run_node(cfg: config_mod.Config, ephemeral: bool, extras=None) -> None:
    from vm.chain import ChainConfig
    from vm.node import Node, NodeOptions, Services
    from app.rpc.server import serve

    n = cfg.node
    options = NodeOptions(
        block_time=float(n.block_time),
        data_dir=None if ephemeral else n.data_dir,
        chain=ChainConfig(chain_id=n.chain_id, gas_limit=n.gas_limit, accounts=n.accounts,
                          balance_eth=n.account_balance_eth),
    )
    if extras is not None:
        extras.configure(options.chain)
    services = Services()
    node = Node(options, services, config=cfg)
    await node.start()
    from bridge.hub import start_hub

    if (problem := await start_hub(node, cfg)) is not None:  # a misconfigured lane stops start-up
        await node.stop()
        click.echo(f"error: {problem}", err=True)
        sys.exit(2)
    if node.bridge is not None and node.bridge.lanes:  # the dashboard's Bridges view reads the hub
        from app.dashboard.bridge_hub import HubSource
        from app.dashboard.sources import register_bridge_source

        register_bridge_source(node, HubSource(node.bridge))
    if extras is not None:
        await extras.after_start(node)
    try:
        runner = await serve(node, n.host, n.port)
    except OSError as exc:
        await node.stop()
        raise RuntimeError(f"cannot listen on {n.host}:{n.port}: {exc.strerror or exc}") from None
    port = runner.addresses[0][1] if runner.addresses else n.port
    _banner(node, n.host, port, options)
    _freeze_heap()
    local: list = []
    ai_task = _schedule_ai(node, services, cfg, port, options, local) if cfg.aivm.enabled else None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    console.print("shutting down…")
    await _shutdown(node, runner, ai_task, local, extras)
    console.print("stopped cleanly")


def _freeze_heap() -> None:
    """Everything start-up made (modules, classes, tables) out of the cyclic collector's way from now on.

    A full collection walks every tracked object: with the start-up heap in it, one held the loop for
    35-43 ms (two in the bench's 0.2 s eth_call phase), 100-117 ms once torch is loaded (inside a
    quorum's answer); frozen, 3 ms. Frozen objects are still freed by reference counting; collecting
    first keeps start-up's own garbage cycles out of the frozen set."""
    gc.collect()
    gc.freeze()


def _schedule_ai(node, services, cfg: config_mod.Config, port: int, options, local: list):
    """Models load (and, the first time, train / convert) while the chain already serves: now when the node
    has validators to serve (local ones, or validators on record), else on first use (vm.ai_start)."""
    from vm import ai_start

    def start():
        return _start_ai(node, services, cfg, port, options, local)

    if cfg.node.validators > 0 or _has_ai_work(node):
        return asyncio.create_task(start())
    node.ai_starter = services.ai_start = ai_start.AIStarter(node, start, asyncio.get_running_loop())
    node.ai_status = ai_start.IDLE_STATUS
    console.print(f"distributed AI: {ai_start.IDLE_STATUS}", highlight=False)
    return None


def _has_ai_work(node) -> bool:
    """Validators or owed callbacks on record (a data dir from an earlier run): start the AI layer at once."""
    from ai.records import AIRecords  # light: no torch

    records = AIRecords(node.chain.store.kv)
    return next(iter(records.validators()), None) is not None or next(iter(records.callbacks()), None) is not None


async def _shutdown(node, runner, ai_task, local: list, extras=None) -> None:
    """Bounded in every state (a computation in flight, validators connected or hung): ≈ SHUTDOWN_BUDGET s.

    Order: fail running computations (the chain thread may be waiting on one
    inside a block), stop local validators (SIGTERM, then SIGKILL), close the
    HTTP/WebSocket server with its connections, then let the chain finish and
    close its store.
    """
    starter = getattr(node, "ai_starter", None)
    for task in (ai_task, starter.task if starter is not None else None):
        if task and not task.done():
            task.cancel()
    if node.ai:
        await node.ai.stop()
    if local:
        from ai.validator import local as local_validators

        await asyncio.to_thread(local_validators.stop, local, 2.0)
    try:
        await asyncio.wait_for(runner.cleanup(), timeout=2.0)
    except asyncio.TimeoutError:
        logging.getLogger("aivm.node").warning("HTTP server did not close within 2 s; continuing")
    if extras is not None:
        await extras.before_stop(node)
    await node.stop()


async def _start_ai(node, services, cfg: config_mod.Config, port: int, options, local: list) -> None:
    node.ai_status = "loading models (the first run trains and converts them; later runs reuse the cache)"
    console.print(f"distributed AI: {node.ai_status}…", highlight=False)

    def load():  # off the event loop: importing the AI layer imports torch (seconds on a loaded machine)
        from ai.service import AIService, load_manifests

        return AIService, load_manifests()

    try:
        AIService, manifests = await asyncio.to_thread(load)
    except Exception as exc:  # the chain keeps serving; AI methods say why they cannot
        node.ai_status = f"model preparation failed: {exc}"
        logging.getLogger("aivm.ai").exception("model preparation failed")
        return
    n = cfg.node
    ai = AIService(node, manifests, cache=n.ai_cache, task_timeout=float(n.ai_task_timeout),
                   max_new_tokens=n.ai_max_new_tokens, infer_timeout=float(n.ai_infer_timeout),
                   join_delay=float(n.ai_join_delay), heartbeat_grace=float(n.ai_heartbeat_grace),
                   hedge_after=float(n.ai_hedge_after))
    ai.max_gas_per_execution = cfg.aivm.max_gas_per_execution
    await ai.start()
    _freeze_heap()  # torch and the models' Python side came with it
    console.print(f"distributed AI: models {', '.join(manifests)} loaded", highlight=False)
    validators = await _register_local_validators(node, ai, n.validators, options)
    # installed only now: a contract's AI call can wait for joining validators without needing the chain thread
    node.ai, services.ai, node.ai_stats = ai, ai, ai.stats
    node.ai_status = None
    if not validators:
        ai.mark_ready()
        console.print("distributed AI ready (no local validators: external ones join over RPC)", highlight=False)
        return
    ai.expect([v.address for v in validators])
    from ai.validator import local as local_validators

    log_dir = validators[0].keystore_path.parent / "logs"
    local_validators.start(validators, f"http://127.0.0.1:{port}", log_dir, holds=n.validator_holds)
    local += validators
    console.print(f"started {len(validators)} local validators (logs in {log_dir}); "
                  f"waiting until they are registered and eligible…", highlight=False)


async def _register_local_validators(node, ai, count: int, options) -> list:
    """Keystores, funding and registration (stake locked) of the node's own validators, before they start."""
    if count <= 0:
        return []
    import tempfile

    from ai.validator import local

    base = Path(options.data_dir) if options.data_dir else Path(tempfile.mkdtemp(prefix="aivm-validators-"))
    validators = await asyncio.to_thread(local.prepare, base / "validators", count)
    stake = local.STAKE_ETH * 10**18

    def fund() -> None:
        for v in validators:
            if v.address not in ai.scheduler.validators and node.chain.balance(v.address) < stake + 10**18:
                node.chain.set_balance(v.address, stake + 10**18)

    await node.run(fund)
    chain_id = node.chain.config.chain_id
    for v in validators:
        if v.address in ai.scheduler.validators:
            continue
        public_keys, proof = await asyncio.to_thread(local.registration, v, chain_id, stake)
        await ai.call(ai.scheduler.register, public_keys, stake, proof)
    return validators


def _banner(node, host: str, port: int, options) -> None:
    from vm.codec import checksum

    where = "memory (ephemeral)" if options.data_dir is None else options.data_dir
    mining = "automine" if options.block_time <= 0 else f"a block every {options.block_time:g} s"
    console.print(f"[bold]AIVM node[/bold] chain id {node.chain.config.chain_id}, head #{node.chain.head_number}, "
                  f"state in {where}, {mining}", highlight=False)
    console.print("dev accounts (mnemonic: the standard 'test … junk' dev mnemonic):", highlight=False)
    for i, a in enumerate(node.chain.accounts):
        console.print(f"  ({i}) {checksum(a.address)}", highlight=False)
    # the line tools wait for: keep its wording stable
    print(f"Listening on http://{host}:{port} (HTTP and WebSocket)", flush=True)
    print(f"Dashboard: http://{host}:{port}/dashboard/", flush=True)


def _register_commands() -> None:
    from ai.validator.cli import validator
    from pqc.cli import keys

    @keys.result_callback()
    def _validator_address(summary, **_kwargs) -> None:
        """`keys new` / `keys show`: the validator account these keys control, in both forms (fund it to stake)."""
        if not isinstance(summary, dict):
            return
        from vm.addresses import to_syn
        from vm.codec import checksum

        address = bytes.fromhex(summary["key_hash"][2:])[12:]
        click.echo(f"{'validator':>13}: {to_syn(address)}")
        click.echo(f"{'account':>13}: {checksum(address)}  (fund it, then: aivm validator --keystore …)")

    main.add_command(keys)
    main.add_command(validator)
    from bridge.devnet import click_command as devnet_command

    main.add_command(devnet_command())
    from app.chat.cli import chat  # `aivm chat` (issue 16)

    main.add_command(chat)


_register_commands()

if __name__ == "__main__":
    main()
