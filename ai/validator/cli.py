"""`aivm validator --rpc URL --keystore FILE`: run one validator against a node."""
from __future__ import annotations

import asyncio
import logging
import sys

import click

from ai.validator import priority
from pqc import keystore
from pqc.cli import _password, password_option

ETHER = 10**18


def parse_holds(text: str) -> list[tuple[str, int]]:
    """"digits_cnn,distributed_ai_model:0-1" -> [(digits_cnn, 0), (distributed_ai_model, 0), (…, 1)]."""
    from models.catalog import MODELS

    holds = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        model_id, _, stages = part.partition(":")
        if model_id not in MODELS:
            raise click.BadParameter(f"unknown model {model_id!r}; known: {', '.join(MODELS)}", param_hint="--holds")
        n = MODELS[model_id].num_stages
        if not stages:
            wanted = range(n)
        else:
            lo, _, hi = stages.partition("-")
            try:
                wanted = range(int(lo), int(hi or lo) + 1)
            except ValueError:
                raise click.BadParameter(f"bad stage range {stages!r}", param_hint="--holds") from None
        for s in wanted:
            if not 0 <= s < n:
                raise click.BadParameter(f"{model_id} has stages 0..{n - 1}, not {s}", param_hint="--holds")
            holds.append((model_id, s))
    return holds


def _endpoint_runner(endpoint, config_path):
    """An EndpointRunner from --endpoint and/or the config's endpoint, max_tokens and temperature."""
    if not endpoint and not config_path:
        return None
    from models.openai_endpoint import EndpointRunner
    from vm import config as config_mod

    try:
        cfg = config_mod.load(config_path, explicit=config_path is not None)
    except config_mod.ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    url = endpoint or cfg.ai_models.gpt_oss_endpoint or cfg.aivm.model_endpoint
    if cfg.ai_models.temperature != 0:
        click.echo(f"warning: temperature {cfg.ai_models.temperature} is not 0: validators will rarely agree", err=True)
    return EndpointRunner(url, max_tokens=cfg.ai_models.max_tokens, temperature=float(cfg.ai_models.temperature))


@click.command("validator")
@click.option("--rpc", "rpc_url", required=True, help="The node's JSON-RPC URL (http://host:port).")
@click.option("--keystore", "keystore_path", required=True, type=click.Path(exists=True, dir_okay=False))
@password_option
@click.option("--stake", type=float, default=10.0, show_default=True, help="ETH to stake (locked from the validator's account).")
@click.option("--holds", default="digits_cnn,distributed_ai_model,price-v1,mm-v1,risk-model", show_default=True,
              help="Model stages to serve: model[:first-last],…")
@click.option("--endpoint", default=None,
              help="Serve gpt_oss_chat from this OpenAI-compatible server (default from --config).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="aivm-config.toml: [aivm] model_endpoint / [ai_models] gpt_oss_endpoint, max_tokens, temperature.")
@click.option("--bridge-state", default=None, type=click.Path(file_okay=False),
              help="Also attest bridge messages (docs/bridges.md), keeping progress in this directory.")
@click.option("--decode-threads", type=click.IntRange(min=0), default=priority.DECODE_THREADS, show_default=True,
              help="torch threads of a text proposal's decoding while it is this validator's only one "
                   "(0: 1 or every core it may use, whichever its timed steps find faster; checks run on one).")
@click.option("--defer-checks", type=click.FloatRange(min=0), default=None,
              help="Seconds a check of a proposal still being decoded waits for its later chunks, to check them in "
                   "one pass (default: AIVM_DEFER_CHECKS, 2, for the node's own validators, which share its cores; "
                   "0 otherwise).")
@click.option("--behaviour", default="honest", hidden=True, help="Fault injection for tests.")
@click.option("--parent-pid", type=int, default=None, hidden=True,
              help="Exit when this process (the node that started us) is gone.")
@click.option("-v", "--verbose", is_flag=True)
def validator(rpc_url, keystore_path, password_file, stake, holds, endpoint, config_path, bridge_state,
              decode_threads, defer_checks, behaviour, parent_pid, verbose) -> None:
    """Join a node's validator set and answer its AI tasks."""
    from ai.validator.client import Behaviour, Validator

    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        store = keystore.load(keystore_path)
        keys = store.unlock(_password(password_file, confirm=False))
    except keystore.KeystoreError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    try:
        fault = Behaviour.parse(behaviour)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--behaviour") from None
    runner = _endpoint_runner(endpoint, config_path)
    v = Validator(rpc_url, keys, int(stake * ETHER), parse_holds(holds), behaviour=fault, endpoint=runner,
                  parent_pid=parent_pid, decode_threads=decode_threads, defer_checks=defer_checks)
    v.bridge_state = bridge_state
    click.echo(f"validator {v.syn} (0x{v.address.hex()}) -> {rpc_url}", err=True)
    try:
        asyncio.run(v.run())
    except KeyboardInterrupt:
        pass
    except Exception as exc:  # the node refused us, or went away: say why in one line
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
