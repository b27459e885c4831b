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


def mutate(src: str, rng: random.Random) -> str:
    toks = tokens(src)
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
