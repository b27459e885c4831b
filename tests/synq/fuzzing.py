"""A seeded mutator over SynQ sources: token-level edits that keep programs close to valid."""
from __future__ import annotations

import random
import re

TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*"|0x[0-9a-fA-F]+|\d+|[A-Za-z_]\w*|==|!=|<=|>=|&&|\|\||<<|>>|\*\*|->|[+\-*/%]=|\S')
VOCAB = ["fn", "external", "public", "internal", "view", "pure", "payable", "storage", "let", "if", "else",
         "for", "in", "range", "max", "return", "emit", "revert", "require", "assert", "struct", "enum",
         "event", "error", "interface", "const", "immutable", "map", "uint8", "uint256", "int8", "int256",
         "bool", "address", "bytes", "string", "bytes32", "msg", "sender", "value", "self", "true", "false",
         "0", "1", "255", "256", "-1", "0xff", '"x"', "(", ")", "{", "}", "[", "]", ";", ",", ":", ".", "=",
         "+", "-", "*", "/", "%", "**", "<<", ">>", "&", "|", "^", "~", "!", "==", "!=", "<", ">", "<=",
         ">=", "&&", "||", "+=", "-=", "->", "x", "y", "len", "keccak256", "ai", "infer", "pqc", "verify",
         "quorum", "abi", "encode", "decode", "push", "pop", "block", "timestamp", "send", "break", "continue"]


def tokens(src: str) -> list[str]:
    return TOKEN.findall(src)


def mutate_names(toks: list[str], rng: random.Random) -> list[str]:
    """Swap names and numbers for others from the same program: it still parses, and the
    checker (not the parser) has to find what is wrong."""
    names = [t for t in toks if t[0].isalpha() or t[0] == "_"]
    numbers = ["0", "1", "7", "255", "256", "65536", str(2**256 - 1), str(2**256)]
    toks = list(toks)
    for _ in range(rng.randint(1, 3)):
        i = rng.randrange(len(toks))
        if toks[i][0].isalpha() or toks[i][0] == "_":
            toks[i] = rng.choice(names)
        elif toks[i][0].isdigit():
            toks[i] = rng.choice(numbers)
    return toks


def mutate(src: str, rng: random.Random) -> str:
    toks = tokens(src)
    if toks and rng.random() < 0.5:
        return " ".join(mutate_names(toks, rng))
    for _ in range(rng.randint(1, 4)):
        if not toks:
            toks = [rng.choice(VOCAB)]
        i = rng.randrange(len(toks))
        r = rng.random()
        if r < 0.3:
            del toks[i]
        elif r < 0.6:
            toks[i] = rng.choice(VOCAB)
        elif r < 0.8:
            toks.insert(i, rng.choice(VOCAB))
        elif r < 0.9:
            j = rng.randrange(len(toks))
            toks[i], toks[j] = toks[j], toks[i]
        else:  # duplicate a span
            j = min(len(toks), i + rng.randint(1, 12))
            toks[i:i] = toks[i:j]
    return " ".join(toks)


def random_program(rng: random.Random, n: int = 40) -> str:
    return " ".join(rng.choice(VOCAB) for _ in range(rng.randint(0, n)))
