"""Many trie writes in one walk: a block's account or storage changes applied together.

py-trie applies each set on its own: a walk from the root, then every node on
the path re-encoded, hashed and written — so a block that touches three
accounts hashes the root three times and writes the two intermediate roots
nobody will read. `update(db, root, changes)` takes all of a trie's changes at
once (key -> value, b"" deletes, as `HexaryTrie.set` treats it), walks each
touched subtree once, and encodes, hashes and writes each new node once: the
nodes of the new trie that were not there before. A Merkle-Patricia trie is
canonical (one shape per key-value set), so the root is the one any sequence of
py-trie sets gives, and every node a later read or proof walks is in `db`.

Nodes are py-trie's raw form (`b""` blank, `[path, value-or-ref]` leaf or
extension, 17 slots a branch; a child under 32 bytes encoded sits inline as
its list, like `HexaryTrie._persist_node`); paths are hex strings here. The
root is always written under its hash, even when short (`_set_raw_node`).
Nodes read from `nodes` (a cache of decoded nodes) are never modified.
tests/test_trie_batch.py compares roots, stored nodes and proofs with py-trie.
"""
from __future__ import annotations

from typing import Any, Mapping, MutableMapping, Optional

import rlp.codec
from eth_hash.auto import keccak
from trie.constants import BLANK_NODE_HASH
from trie.utils.nodes import decode_node

_SLOT = {c: i for i, c in enumerate("0123456789abcdef")}
_HEX = "0123456789abcdef"
_CHANGED = True  # a branch slot whose new child is still to be committed


def update(db: MutableMapping[bytes, bytes], root_hash: bytes, changes: Mapping[bytes, bytes],
           nodes: Optional[MutableMapping[bytes, Any]] = None) -> bytes:
    """The root after applying `changes` to the trie at `root_hash`; new nodes go into `db`
    (and, decoded, into `nodes` when given). A missing node raises KeyError (its hash)."""
    if not changes:
        return root_hash
    walk = _Walk(db, nodes)
    items = [(k.hex(), v) for k, v in changes.items()]
    root = b"" if root_hash == BLANK_NODE_HASH else walk.resolve(root_hash)
    new = walk.update(root, items)
    if new == b"":
        return BLANK_NODE_HASH
    encoded = rlp.codec.encode_raw(new)
    node_hash = keccak(encoded)
    db[node_hash] = encoded
    if nodes is not None:
        nodes[node_hash] = new
    return node_hash


def _hp(path: str, leaf: bool) -> bytes:
    """Hex-prefix encoding of a nibble path (yellow paper appendix C)."""
    if len(path) % 2:
        return bytes.fromhex(("3" if leaf else "1") + path)
    return bytes.fromhex(("20" if leaf else "00") + path)


def _unhp(encoded: bytes) -> tuple[str, bool]:
    """(path, is_leaf) of a leaf or extension node's first item."""
    h = encoded.hex()
    flag = h[0]
    return (h[1:] if flag in "13" else h[2:]), flag in "23"


class _Walk:
    __slots__ = ("db", "nodes")

    def __init__(self, db, nodes) -> None:
        self.db = db
        self.nodes = nodes

    def resolve(self, ref):
        """The raw node a slot or extension refers to."""
        if type(ref) is list or ref == b"":
            return ref
        nodes = self.nodes
        if nodes is not None:
            node = nodes.get(ref)
            if node is not None:
                return node
        node = decode_node(self.db[ref])
        if nodes is not None:
            nodes[ref] = node
        return node

    def commit(self, node):
        """The reference a parent holds for `node`: itself when its encoding is under 32 bytes,
        else its hash (and the node is written)."""
        encoded = rlp.codec.encode_raw(node)
        if len(encoded) < 32:
            return node
        node_hash = keccak.hasher(encoded)  # eth-hash's backend itself: encoded is bytes
        self.db[node_hash] = encoded
        if self.nodes is not None:
            self.nodes[node_hash] = node
        return node_hash

    # -- the walk: items are (path relative to the node, value) --
    def update(self, node, items: list):
        if node == b"":
            return self.build([kv for kv in items if kv[1]])
        if len(node) == 17:
            return self.update_branch(node, items)
        path, leaf = _unhp(node[0])
        if leaf:
            if len(items) == 1 and items[0][0] == path:  # the usual account or slot update
                value = items[0][1]
                return [node[0], value] if value else b""
            merged = {path: node[1]}
            merged.update(items)
            return self.build([kv for kv in merged.items() if kv[1]])
        return self.update_extension(path, node[1], items)

    def update_extension(self, path: str, child, items: list):
        inside, outside = [], []
        n = len(path)
        for k, v in items:
            if k[:n] == path:
                inside.append((k[n:], v))
            elif v:  # deleting a key the extension does not cover changes nothing
                outside.append((k, v))
        if not outside:
            if not inside:
                return [_hp(path, False), child]
            return self.wrap(path, self.update(self.resolve(child), inside))
        # the new keys leave the path after c nibbles: a branch there, the old child below it
        c = min(_common(path, k) for k, _ in outside)
        branch = [b""] * 17
        rest = path[c + 1:]
        below = [_hp(rest, False), child] if rest else child
        # committed only if no item goes below it (else the update replaces it anyway)
        branch[_SLOT[path[c]]] = self.commit(below) if rest and not inside else below
        items = [(k[c:], v) for k, v in outside] + [(path[c:] + k, v) for k, v in inside]
        return self.wrap(path[:c], self.update_branch(branch, items))

    def update_branch(self, node, items: list):
        slots = list(node)
        groups: dict[str, list] = {}
        for k, v in items:
            if k:
                groups.setdefault(k[0], []).append((k[1:], v))
            else:
                slots[16] = v
        new: dict[int, Any] = {}
        for ch, group in groups.items():
            i = _SLOT[ch]
            child = self.update(self.resolve(slots[i]), group)
            if child == b"":
                slots[i] = b""
            else:
                slots[i] = _CHANGED
                new[i] = child
        children = 16 - slots[:16].count(b"")
        if children + (slots[16] != b"") >= 2:
            for i, child in new.items():
                slots[i] = self.commit(child)
            return slots
        if not children:
            return [_hp("", True), slots[16]] if slots[16] != b"" else b""
        # one child left and no value: the branch folds into its child's path
        i = next(i for i in range(16) if slots[i] != b"")
        child = new[i] if i in new else self.resolve(slots[i])
        if len(child) == 2:
            path, leaf = _unhp(child[0])
            return [_hp(_HEX[i] + path, leaf), child[1]]
        return [_hp(_HEX[i], False), self.commit(child) if i in new else slots[i]]

    def wrap(self, path: str, node):
        """`node` under an extension `path` (folded into it when it is a leaf or extension)."""
        if not path or node == b"":
            return node
        if len(node) == 2:
            sub, leaf = _unhp(node[0])
            return [_hp(path + sub, leaf), node[1]]
        return [_hp(path, False), self.commit(node)]

    def build(self, items: list):
        """A new subtrie holding exactly `items` (values non-empty, paths distinct)."""
        if not items:
            return b""
        if len(items) == 1:
            k, v = items[0]
            return [_hp(k, True), v]
        prefix = _prefix([k for k, _ in items])
        n = len(prefix)
        branch = [b""] * 17
        groups: dict[str, list] = {}
        for k, v in items:
            if len(k) == n:
                branch[16] = v
            else:
                groups.setdefault(k[n], []).append((k[n + 1:], v))
        for ch, group in groups.items():
            branch[_SLOT[ch]] = self.commit(self.build(group))
        return self.wrap(prefix, branch)


def _common(a: str, b: str) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def _prefix(keys: list) -> str:
    lo, hi = min(keys), max(keys)
    return lo[:_common(lo, hi)]

