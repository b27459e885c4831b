"""config/aivm-config.toml: the guide's keys plus a [node] table.

A missing file means defaults. An unknown key, a wrong type or an
out-of-range value stops start-up with one line that names the file, the key
and what was expected; nothing is guessed.
"""
from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal, Optional

from pydantic import (BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr, ValidationError,
                      model_validator)

from vm import defaults

DEFAULT_PATH = Path("config/aivm-config.toml")


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AIVMSection(_Table):
    enabled: StrictBool = True
    model_endpoint: Annotated[StrictStr, Field(pattern=r"^https?://\S+$")] = "http://localhost:8000"
    max_gas_per_execution: Annotated[StrictInt, Field(ge=21_000, le=1_000_000_000)] = defaults.AI_MAX_GAS_PER_EXECUTION
    enable_ai_chat: StrictBool = True


class AIModelsSection(_Table):
    gpt_oss_endpoint: Annotated[StrictStr, Field(pattern=r"^https?://\S+$")] = "http://localhost:8000"
    max_tokens: Annotated[StrictInt, Field(ge=1, le=131_072)] = 2048
    temperature: Annotated[StrictFloat | StrictInt, Field(ge=0, le=2)] = 0.7


class BridgeChain(_Table):
    """[interoperability.chains.<name>]: one end of a bridge lane (docs/bridges.md)."""

    kind: Literal["evm", "aivm", "solana"] = "evm"
    rpc_url: Annotated[StrictStr, Field(pattern=r"^https?://\S+$")]
    chain_id: Annotated[StrictInt, Field(ge=1, le=2**64 - 1)]
    confirmations: Annotated[StrictInt, Field(ge=1, le=10_000)] = 1
    bridge_address: Annotated[StrictStr, Field(pattern=r"^(0x[0-9a-fA-F]{40}|[1-9A-HJ-NP-Za-km-z]{32,44})$")]
    level: Literal["Basic", "Enhanced", "Maximum", "Military"] = "Enhanced"


class InteropSection(_Table):
    supported_chains: list[StrictStr] = Field(default_factory=lambda: ["ethereum", "polygon", "solana"])
    bridge_enabled: StrictBool = True
    cross_chain_gas_limit: Annotated[StrictInt, Field(ge=21_000, le=1_000_000_000)] = 1_000_000
    chains: dict[StrictStr, BridgeChain] = Field(default_factory=dict)
    # where the AIVM guardian set comes from (docs/bridges.md): the validator registry, or governance RPC
    guardian_source: Literal["validators", "governance"] = "validators"

    @model_validator(mode="after")
    def _lanes_are_consistent(self) -> "InteropSection":
        from interop.config import check_lanes

        check_lanes(self)
        return self


class NodeSection(_Table):
    host: StrictStr = "127.0.0.1"
    port: Annotated[StrictInt, Field(ge=0, le=65_535)] = 8545
    chain_id: Annotated[StrictInt, Field(ge=1, le=2**53)] = 31337
    data_dir: StrictStr = ".aivm/data"
    block_time: Annotated[StrictFloat | StrictInt, Field(ge=0, le=3600)] = 0
    accounts: Annotated[StrictInt, Field(ge=1, le=1000)] = 10
    account_balance_eth: Annotated[StrictInt, Field(ge=0)] = 10_000
    gas_limit: Annotated[StrictInt, Field(ge=1_000_000, le=1_000_000_000)] = defaults.BLOCK_GAS_LIMIT
    validators: Annotated[StrictInt, Field(ge=0, le=64)] = 5
    validator_holds: Annotated[StrictStr, Field(pattern=r"^[a-z0-9_-]+(:\d+(-\d+)?)?(,[a-z0-9_-]+(:\d+(-\d+)?)?)*$")] = \
        "digits_cnn,distributed_ai_model,price-v1,mm-v1,risk-model"  # what the local validators serve (aivm validator --holds)
    ai_cache: StrictBool = True  # reuse a quorum's answer for an identical (model, input)
    ai_task_timeout: Annotated[StrictFloat | StrictInt, Field(gt=0, le=3600)] = int(defaults.AI_TASK_TIMEOUT)
    ai_infer_timeout: Annotated[StrictFloat | StrictInt, Field(gt=0, le=3600)] = int(defaults.AI_INFER_TIMEOUT)
    ai_join_delay: Annotated[StrictFloat | StrictInt, Field(ge=0, le=86_400)] = int(defaults.AI_JOIN_DELAY)  # s from attestation to counting
    ai_heartbeat_grace: Annotated[StrictFloat | StrictInt, Field(gt=0, le=3600)] = int(defaults.AI_HEARTBEAT_GRACE)  # s silent before leaving the set
    ai_hedge_after: Annotated[StrictFloat | StrictInt, Field(ge=0, le=60)] = defaults.AI_HEDGE_AFTER  # s before a slow round asks a spare (0: up front)
    ai_max_new_tokens: Annotated[StrictInt, Field(ge=1, le=256)] = defaults.AI_DEFAULT_NEW_TOKENS  # default answer length; a request may ask up to 256


class Config(_Table):
    aivm: AIVMSection = Field(default_factory=AIVMSection)
    ai_models: AIModelsSection = Field(default_factory=AIModelsSection)
    interoperability: InteropSection = Field(default_factory=InteropSection)
    node: NodeSection = Field(default_factory=NodeSection)


class ConfigError(Exception):
    """One line for the user: file, key, what was expected."""


def _describe(err: dict) -> str:
    loc = [str(p) for p in err["loc"]]
    key = f"[{loc[0]}] {'.'.join(loc[1:])}" if len(loc) > 1 else f"[{loc[0]}]" if loc else "(top level)"
    kind = err["type"]
    got = err.get("input")
    if kind == "extra_forbidden":
        return f"{key}: unknown key"
    ctx = err.get("ctx") or {}
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        return f"{key}: {err['msg'].lower()}, got {got!r}"
    if kind == "string_pattern_mismatch" and loc[-1:] == ["bridge_address"]:
        return f"{key}: expected a 0x EVM address or a base58 Solana address, got {got!r}"
    if kind == "string_pattern_mismatch":
        return f"{key}: expected an http(s) URL, got {got!r}"
    if kind == "missing":
        return f"{key}: missing (required)"
    if kind == "value_error":  # a model validator's message already names its key
        return str(ctx.get("error", err["msg"]))
    if kind == "literal_error":
        return f"{key}: expected {ctx.get('expected')}, got {got!r}"
    expected = {
        "int_type": "an integer", "bool_type": "true or false", "string_type": "a string",
        "float_type": "a number", "list_type": "a list", "model_type": "a table",
    }.get(kind)
    if expected is None and kind.endswith("_type"):
        expected = kind[:-5].replace("_", " ")
    if expected:
        return f"{key}: expected {expected}, got {got!r}"
    return f"{key}: {err['msg']}" + (f" ({ctx})" if ctx else "")


def load(path: Optional[Path] = None, explicit: bool = False) -> Config:
    """Read the config; `explicit` means the user named the file, so it must exist."""
    p = Path(path) if path else DEFAULT_PATH
    if not p.exists():
        if explicit:
            raise ConfigError(f"{p}: file not found")
        return Config()
    try:
        raw: Any = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: invalid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: cannot read: {exc}") from None
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        more = len(exc.errors()) - 1
        tail = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
        raise ConfigError(f"{p}: {_describe(first)}{tail}") from None


def with_overrides(cfg: Config, **node_fields: Any) -> Config:
    """CLI flags win over the file (None means 'not given')."""
    given = {k: v for k, v in node_fields.items() if v is not None}
    if not given:
        return cfg
    try:
        node = NodeSection.model_validate({**cfg.node.model_dump(), **given})
    except ValidationError as exc:
        raise ConfigError(f"command line: {_describe(exc.errors()[0])}") from None
    return cfg.model_copy(update={"node": node})
