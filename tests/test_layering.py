"""Dependencies point one way: every import (module- or function-level) goes from a top-level package to one in
the same layer or a lower one, no two top-level packages import each other (directly or round a loop), and only
the chain adapter imports py-evm.

The layers, lowest first (ARCHITECTURE.md, "Dependency direction"):

    leaves       pqc, synq, models (the model code), interop (the cross-chain message core)
    precompiles  precompiles (with the port they need from the AI layer, precompiles/ai_port.py)
    node         vm
    services     ai (scheduler, service, validator, protocol, records), bridge (hub, relayer, attester, chains)
    application  app (the JSON-RPC server and its namespaces, the `aivm` CLI, the chat API, the dashboard)
    tools        aivm_pytest, bench, scripts (model builds and timings run by hand)

The walk reads the source with `ast` (no imports run), so an import hidden inside a function counts like any
other.
"""
from __future__ import annotations

import ast
import functools
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("pqc", "synq", "models", "interop", "precompiles", "vm", "ai", "bridge", "app", "aivm_pytest", "bench",
            "scripts")

LAYERS = ("leaves", "precompiles", "node", "services", "application", "tools")

LAYER_OF = {
    "pqc": "leaves", "synq": "leaves", "models": "leaves", "interop": "leaves",
    "precompiles": "precompiles",
    "vm": "node",
    "ai": "services", "bridge": "services",
    "app": "application",
    "aivm_pytest": "tools", "bench": "tools", "scripts": "tools",
}

# The chain adapter: the only modules that import py-evm (`eth.*`). They drive py-evm's chain, state, DB
# and VM; everything else talks to `vm.chain.Chain` / `vm.node.Node`.
EVM_ADAPTER = {
    "vm.chain", "vm.fork", "vm.fastblock", "vm.forking", "vm.execution", "vm.reader", "vm.tracing", "vm.proofs",
    "vm.state_dump", "vm.trie_root", "vm.trie_cache", "vm.store.atomic", "vm.store.index",
    # vm.chain's parts (the `Chain` mixins, the block builder, computation -> result)
    "vm.block_builder", "vm.chain_reads", "vm.chain_txs", "vm.chain_signing", "vm.chain_mining", "vm.chain_snapshots",
    "vm.chain_results", "vm.header_chain", "vm.fast_records", "vm.lean_exec",
}
# Outside the adapter, with the reason:
EVM_ALLOWED = {
    # py-evm's precompile contract: a precompile fails by raising a VMError subclass (its gas is consumed);
    # the registry is the one precompile module that names it, the precompiles raise the registry's errors
    "precompiles.registry": {"eth.exceptions"},
}


def component(module: str) -> str:
    """The top-level package a module belongs to: the unit the layers and the cycle check are about."""
    return module.split(".")[0]


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path) -> list[tuple[str, int, bool, tuple[str, ...]]]:
    """(module, line, inside a function, names imported from it) for every import statement of one file."""
    module = module_name(path)
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    out: list[tuple[str, int, bool, tuple[str, ...]]] = []

    def walk(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                out.extend((alias.name, child.lineno, in_function, ()) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = package[:len(package) - child.level + 1] if child.level else []
                name = ".".join(base + ([child.module] if child.module else []))
                out.append((name, child.lineno, in_function, tuple(a.name for a in child.names)))
            walk(child, inner)

    walk(ast.parse(path.read_text(), str(path)), False)
    return out


def targets(name: str, names: tuple[str, ...], known: set[str]) -> set[str]:
    """The modules one statement reaches: `from ai import ports` reaches ai.ports, `from ai.scheduler import
    AIError` reaches ai.scheduler."""
    subs = {f"{name}.{n}" for n in names if f"{name}.{n}" in known}
    if len(subs) < len(names) or not names:
        subs.add(name)
    return subs


def project_files() -> list[Path]:
    files = []
    for pkg in PACKAGES:
        # not installed peers, nor the titanoboa venv bench_plugin makes in bench/.cache (both gitignored)
        files += [p for p in (ROOT / pkg).rglob("*.py") if not {"node_modules", ".peers", ".cache"} & set(p.parts)]
    return sorted(files)


@functools.lru_cache(maxsize=1)
def graph() -> tuple[dict, list, int]:
    """Component edges {(from, to): [where]}, py-evm imports outside the adapter, function-level project imports."""
    edges: dict = defaultdict(list)
    evm: list = []
    function_level = 0
    known = set()
    for path in project_files():
        known.add(module_name(path))
    for path in project_files():
        module = module_name(path)
        src = component(module)
        for name, line, in_function, names in imports(path):
            top = name.split(".")[0]
            where = f"{path.relative_to(ROOT)}:{line} imports {name}"
            if top in ("eth", "evm") and module not in EVM_ADAPTER and name not in EVM_ALLOWED.get(module, ()):
                evm.append(where)
            if top not in PACKAGES:
                continue
            function_level += in_function
            for dst in {component(t) for t in targets(name, names, known)} - {src}:
                edges[(src, dst)].append(where)
    return edges, evm, function_level


def cycles(edges: dict) -> list[list[str]]:
    """The strongly connected components with more than one member (Tarjan)."""
    succ = defaultdict(set)
    for a, b in edges:
        succ[a].add(b)
    index: dict = {}
    low: dict = {}
    stack: list = []
    on: set = set()
    found: list = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in succ[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            scc = []
            while True:
                w = stack.pop()
                on.discard(w)
                scc.append(w)
                if w == v:
                    break
            if len(scc) > 1:
                found.append(sorted(scc))

    for v in list(succ):
        if v not in index:
            visit(v)
    return found


def test_every_component_has_a_layer():
    edges, _, _ = graph()
    named = {c for edge in edges for c in edge}
    assert named <= set(LAYER_OF), f"components without a layer: {sorted(named - set(LAYER_OF))}"


def test_imports_point_down_the_layers():
    edges, _, _ = graph()
    rank = {layer: i for i, layer in enumerate(LAYERS)}
    upward = [f"{a} ({LAYER_OF[a]}) -> {b} ({LAYER_OF[b]}): {where}"
              for (a, b), wheres in sorted(edges.items()) if rank[LAYER_OF[b]] > rank[LAYER_OF[a]]
              for where in wheres]
    assert not upward, "imports against the dependency direction:\n" + "\n".join(upward)


def test_no_cycle_between_components():
    edges, _, _ = graph()
    loops = cycles(edges)
    detail = []
    for scc in loops:
        members = set(scc)
        detail += [f"{a} -> {b}: {w[0]} (+{len(w) - 1} more)" for (a, b), w in sorted(edges.items())
                   if a in members and b in members]
    assert not loops, f"import cycles between components {loops}:\n" + "\n".join(detail)


def test_only_the_chain_adapter_imports_py_evm():
    _, evm, _ = graph()
    assert not evm, "py-evm imported outside the chain adapter (vm.chain & co, see EVM_ADAPTER):\n" + "\n".join(evm)


def test_every_top_level_python_directory_is_walked():
    dirs = {p.parent.relative_to(ROOT).parts[0] for p in ROOT.glob("*/*.py")}
    assert dirs - {"tests"} <= set(PACKAGES), f"add to PACKAGES and LAYER_OF: {sorted(dirs - {'tests'} - set(PACKAGES))}"


def test_the_precompiles_ai_port_imports_nothing_of_the_project():
    """The AI precompiles own the port the AI layer implements: it names no implementation."""
    names = [name for name, _, _, _ in imports(ROOT / "precompiles" / "ai_port.py")]
    assert not [n for n in names if n.split(".")[0] in PACKAGES], names


@pytest.mark.parametrize("source, expected", [
    ("import vm.chain\n", [("vm.chain", 1, False, ())]),
    ("def f():\n    from ai.scheduler import AIError\n", [("ai.scheduler", 2, True, ("AIError",))]),
    ("class C:\n    def m(self):\n        import torch\n", [("torch", 3, True, ())]),
    ("from .core import x\n", [("ai.scheduler.core", 1, False, ("x",))]),
    ("from .. import ports\n", [("ai", 1, False, ("ports",))]),
])
def test_the_walk_sees_function_level_and_relative_imports(tmp_path, monkeypatch, source, expected):
    pkg = tmp_path / "ai" / "scheduler"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(source)
    monkeypatch.setattr(__import__(__name__, fromlist=["ROOT"]), "ROOT", tmp_path)
    assert imports(pkg / "__init__.py") == expected


def test_from_import_reaches_the_submodule():
    known = {"ai", "ai.ports", "ai.scheduler"}
    assert targets("ai", ("ports",), known) == {"ai.ports"}
    assert targets("ai.scheduler", ("AIError",), known) == {"ai.scheduler"}
    assert component("ai.ports") == "ai" and component("ai.scheduler.core") == "ai"
    assert component("app.rpc.ai") == "app" and component("vm.chain") == "vm"


def test_the_cycle_finder_finds_a_loop_of_three():
    edges = {("vm", "precompiles"): ["a"], ("precompiles", "ai"): ["b"], ("ai", "vm"): ["c"], ("ai", "pqc"): ["d"]}
    assert cycles(edges) == [["ai", "precompiles", "vm"]]


if __name__ == "__main__":  # python -m tests.test_layering: the package graph and the counts
    e, ev, fl = graph()
    for (a, b), w in sorted(e.items()):
        print(f"{a:12} -> {b:12} {len(w):3}")
    print("cycles:", cycles(e))
    print("py-evm outside the adapter:", len(ev))
    print("function-level imports of project modules:", fl)
