"""The node API (vm/api.py) and the one error map (app/rpc/errors.py).

Handlers only translate: they receive the API, never the node's private state;
the chain and node raise reasons, never JSON-RPC codes; every reason has its code.
"""
import ast
import asyncio
import re
import tomllib
from pathlib import Path

import pytest

from precompiles.registry import CallContext, Services
from vm import fees
from vm.api import NodeApi
from vm.chain import TxRejected, UnknownBlock
from vm.codec import InvalidValue
from vm.errors import NodeError, Reason
from vm.node import Node, NodeOptions
from app.rpc import dispatch
from app.rpc import server  # noqa: F401  (registers every RPC method)
from app.rpc.errors import CODES, rpc_error

ROOT = Path(__file__).resolve().parents[1]


async def rpc(node, method, *params):
    return await dispatch.handle_one(node, {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})


def test_every_reason_has_a_code_and_the_codes_are_the_documented_ones():
    assert set(CODES) == set(Reason)
    assert CODES[Reason.INVALID_INPUT] == -32602 and CODES[Reason.NOT_FOUND] == -32001
    assert CODES[Reason.REFUSED] == CODES[Reason.UNAVAILABLE] == -32000
    assert CODES[Reason.LIMIT_EXCEEDED] == -32005 and CODES[Reason.REVERTED] == 3
    assert [CODES[r] for r in (Reason.NONCE_TOO_LOW, Reason.NONCE_TOO_HIGH, Reason.FEE_BELOW_BASE_FEE,
                               Reason.INTRINSIC_GAS_TOO_LOW, Reason.INSUFFICIENT_FUNDS)] == list(range(-38010, -38015, -1))


def test_domain_errors_map_in_one_place():
    err = rpc_error(TxRejected("nonce too low: x", Reason.NONCE_TOO_LOW))
    assert (err.code, err.message) == (-38010, "nonce too low: x")
    assert rpc_error(UnknownBlock("block #9 is not mined yet")).code == -32001
    assert rpc_error(InvalidValue("bad")).code == -32602
    assert rpc_error(NodeError(Reason.REVERTED, "execution reverted", b"\x01\x02")).data == "0x0102"
    assert rpc_error(ValueError("a bug")) is None  # not a refusal: the dispatcher answers -32603 and logs it


def _python_files(*parts: str):
    for part in parts:
        yield from sorted((ROOT / part).rglob("*.py")) if (ROOT / part).is_dir() else [ROOT / part]


def test_no_json_rpc_codes_below_the_rpc_layer():
    """The chain, node and vm modules raise reasons: no `code=-3…` and no app.rpc import (except the CLI's server)."""
    for path in _python_files("vm"):
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith("app/rpc/"):
            continue
        text = path.read_text()
        assert not re.search(r"code\s*=\s*-3\d{4}", text), f"{rel} picks a JSON-RPC code"
        imports = [n.module for n in ast.walk(ast.parse(text)) if isinstance(n, ast.ImportFrom) and n.module]
        allowed = {"app/cli.py": {"app.rpc.server"}}.get(rel, set())
        assert not {m for m in imports if m.startswith("app.rpc")} - allowed, f"{rel} imports the RPC layer"


def test_rpc_handlers_reach_no_private_node_state():
    for path in _python_files("app/rpc"):
        text = path.read_text()
        assert not re.search(r"\b(node|api)\._[a-z]", text), f"{path.name} reads a private attribute"
        assert "getattr(node" not in text, f"{path.name} reads an undeclared attachment"


def test_handlers_of_every_layer_call_dedicated_methods_not_the_threads():
    """Bridge, dashboard and synergy_ handlers call a NodeApi / bridge-service method, never a generic
    `run` / `read` hop or the chain object (the API has no such hop to offer)."""
    assert not hasattr(NodeApi, "run") and not hasattr(NodeApi, "read")
    for path in [*_python_files("app/rpc"), ROOT / "app/dashboard/rpc.py"]:
        text = path.read_text()
        found = re.search(r"\b(node|api)\.(run|read|chain)\b", text)
        assert not found, f"{path.name}: {found.group(0)}"
        assert "getattr(api" not in text, f"{path.name} reads the API by name"


def test_handlers_refuse_with_reasons_not_picked_codes():
    """A handler's param refusal is a Reason (vm.errors), mapped in app/rpc/errors.py; only the
    envelope / typed-param parsing (dispatch.py, server.py) builds an RpcError itself."""
    for path in [*_python_files("app/rpc"), ROOT / "app/dashboard/rpc.py"]:
        if path.name in ("dispatch.py", "errors.py", "server.py", "params.py"):
            continue
        assert "RpcError(" not in path.read_text(), f"{path.name} picks a JSON-RPC code"


def test_node_declares_what_the_application_attaches():
    node = Node(NodeOptions(), config=None)
    try:
        for name in ("config", "ai", "ai_status", "ai_stats", "bridge", "dashboard_bridge_source",
                     "dashboard_monitor", "chat_jobs", "ai_starter"):
            assert hasattr(node, name) and getattr(node, name) is None, name
        api = node.api
        assert api is node.api and NodeApi.of(node) is api and NodeApi.of(api) is api
        assert api.filters.node is node
    finally:
        node._executor.shutdown(wait=False)
        node._readers.shutdown(wait=False)


def test_the_api_refuses_with_reasons_that_reach_the_wire_unchanged():
    async def main():
        node = Node(NodeOptions(block_time=3600))  # interval mining: transactions stay queued
        await node.start()
        try:
            api = node.api
            with pytest.raises(NodeError) as info:
                api.ai_service()
            assert info.value.reason is Reason.UNAVAILABLE
            a0 = "0x" + node.chain.accounts[0].address.hex()
            sent = await rpc(node, "eth_sendTransaction", {"from": a0, "to": a0, "value": "0x1"})
            assert "result" in sent
            with pytest.raises(NodeError) as info:
                await api.revert(0)
            assert info.value.reason is Reason.REFUSED
            resp = await rpc(node, "evm_revert", "0x0")
            assert resp["error"] == {"code": -32000, "message": "cannot revert while transactions are queued for mining"}
            resp = await rpc(node, "eth_getBlockByNumber", "0x99", False)
            assert resp["result"] is None
            resp = await rpc(node, "eth_getBalance", a0, "0x99")
            assert resp["error"]["code"] == -32001 and "not mined yet" in resp["error"]["message"]
            resp = await rpc(node, "eth_getFilterChanges", "0x00")
            assert resp["error"] == {"code": -32001, "message": "filter not found"}
            resp = await rpc(node, "synergy_getValidatorSet", "digits_cnn")
            assert resp["error"] == {"code": -32000, "message": "distributed AI is disabled on this node "
                                                                "([aivm] enabled = false)"}
        finally:
            await node.stop()

    asyncio.run(main())


def test_fee_history_percentile_rule():
    assert fees.check_percentiles(None) is None and fees.check_percentiles([10, 50.5, 90]) == [10, 50.5, 90]
    for bad in ([101], [-1], [True], "50", [50, 10]):
        with pytest.raises(InvalidValue):
            fees.check_percentiles(bad)
    # tips sorted ascending with their gas: 21000 at 1 gwei, 21000 at 2 gwei, 42000 at 5 gwei
    block = [(1, 21_000), (2, 21_000), (5, 42_000)]
    assert fees.percentile_rewards(block, 84_000, [0, 25, 26, 50, 51, 100]) == [1, 1, 2, 2, 5, 5]
    assert fees.percentile_rewards([], 0, [10, 90]) == [0, 0]


def test_precompile_services_are_typed():
    services = Services()
    assert services.ai is None and services.producing_block is None
    with pytest.raises(TypeError):
        Services(bridge=object())  # one named field each, not a bag of strings

    class _Computation:
        class state:
            pass

    ctx = CallContext(_Computation())
    assert ctx.services.ai is None  # a chain without services: the empty record


def test_versions_come_from_the_one_definition():
    release = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    from ai.validator.client import VERSION as validator_version
    from precompiles.version import VERSION as precompile_version
    from vm.version import CLIENT_VERSION

    assert CLIENT_VERSION == f"AIVM/v{release}/python"
    assert precompile_version == f"aivm/{release}" and validator_version == f"aivm-validator/{release}"


def test_shared_defaults_are_defined_once():
    from ai.scheduler.core import TASK_TIMEOUT
    from ai.service import AIService
    from vm import config, defaults
    from vm.chain import ChainConfig

    cfg = config.Config()
    assert cfg.node.gas_limit == ChainConfig().gas_limit == defaults.BLOCK_GAS_LIMIT
    assert cfg.node.ai_task_timeout == TASK_TIMEOUT == defaults.AI_TASK_TIMEOUT
    assert cfg.aivm.max_gas_per_execution == defaults.AI_MAX_GAS_PER_EXECUTION
    import inspect

    params = inspect.signature(AIService.__init__).parameters
    assert params["task_timeout"].default == defaults.AI_TASK_TIMEOUT
    assert params["infer_timeout"].default == cfg.node.ai_infer_timeout == defaults.AI_INFER_TIMEOUT
    from ai.scheduler.validator_set import HEARTBEAT_GRACE, JOIN_DELAY

    assert cfg.node.ai_join_delay == JOIN_DELAY and cfg.node.ai_heartbeat_grace == HEARTBEAT_GRACE
    assert cfg.node.ai_max_new_tokens == params["max_new_tokens"].default == defaults.AI_DEFAULT_NEW_TOKENS


def test_the_documented_code_table_is_the_map():
    rows = re.findall(r"^\| ([a-z ]+) \| (-?\d+) \|", (ROOT / "docs/node-api.md").read_text(), re.M)
    assert {Reason(word): int(code) for word, code in rows} == CODES
