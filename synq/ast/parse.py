"""Text -> AST. The only place where Lark's exceptions become SynQ errors."""
from __future__ import annotations

import ast as _pyast
from functools import lru_cache
from pathlib import Path

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import (
    LarkError,
    UnexpectedCharacters,
    UnexpectedEOF,
    UnexpectedInput,
    UnexpectedToken,
    VisitError,
)

from synq.ast import nodes as n
from synq.errors import InternalCompilerError, Span, SynqSyntaxError, SynqUserError

GRAMMAR = Path(__file__).resolve().parent.parent / "grammar.lark"

# readable names for terminals whose pattern is a regular expression
_TERMINAL_NAMES = {
    "NAME": "a name",
    "DEC_NUMBER": "a number",
    "HEX_NUMBER": "a hex number",
    "STRING": "a string",
    "HEX_STRING": 'a hex"..." literal',
    "CMP_OP": "a comparison",
    "AUG_OP": "an assignment operator like '+='",
    "SHL": "'<<'",
    "SHR": "'>>'",
    "$END": "end of file",
}


@lru_cache(maxsize=1)
def parser() -> Lark:
    return Lark(GRAMMAR.read_text(), parser="lalr", propagate_positions=True, maybe_placeholders=True)


def _span(meta) -> Span:
    if getattr(meta, "empty", False) or not hasattr(meta, "line"):
        return Span()
    return Span(meta.line, meta.column, meta.end_line, meta.end_column)


def _tok_span(tok: Token) -> Span:
    return Span(tok.line, tok.column, tok.end_line or tok.line, tok.end_column or tok.column + len(tok))


_BINOPS = {
    "add": "+", "sub": "-", "mul": "*", "div": "/", "mod": "%", "pow": "**",
    "shl": "<<", "shr": ">>", "bit_and": "&", "bit_or": "|", "bit_xor": "^",
}


@v_args(meta=True)
class ToAst(Transformer):
    """Parse tree -> frozen AST nodes. Any rule without a method fails loudly."""

    def __default__(self, data, children, meta):
        raise InternalCompilerError(f"no AST builder for grammar rule {data!r}")

    # ---- top level
    def start(self, meta, items):
        return n.Module(tuple(items), span=_span(meta))

    def event_def(self, meta, c):
        name, *params = c
        return n.EventDef(str(name), tuple(p for p in params if p is not None), span=_span(meta))

    def event_param(self, meta, c):
        name, indexed, typ = c
        return n.EventParam(str(name), typ, indexed is not None, span=_span(meta))

    def error_def(self, meta, c):
        name, *params = c
        return n.ErrorDef(str(name), tuple(p for p in params if p is not None), span=_span(meta))

    def struct_def(self, meta, c):
        name, *fields = c
        return n.StructDef(str(name), tuple(f for f in fields if f is not None), span=_span(meta))

    def field(self, meta, c):
        return n.Param(str(c[0]), c[1], span=_span(meta))

    param = field
    local = field

    def enum_def(self, meta, c):
        name, *members = c
        return n.EnumDef(str(name), tuple(str(m) for m in members if m is not None), span=_span(meta))

    def interface_def(self, meta, c):
        name, *fns = c
        return n.InterfaceDef(str(name), tuple(fns), span=_span(meta))

    def _function(self, meta, c, body_expected: bool):
        mods = [m for m in c if isinstance(m, _Modifier)]
        rest = [x for x in c if not isinstance(x, _Modifier)]
        name = rest[0]
        body = rest[-1] if body_expected else None
        middle = rest[1:-1] if body_expected else rest[1:]
        rets: tuple = ()
        params = []
        for x in middle:
            if isinstance(x, _Returns):
                rets = x.types
            elif x is not None:
                params.append(x)
        return n.FuncDef(
            str(name), tuple(params), rets, tuple(m.word for m in mods), body,
            span=_span(meta),
        )

    def iface_fn(self, meta, c):
        return self._function(meta, c, body_expected=False)

    def func_def(self, meta, c):
        return self._function(meta, c, body_expected=True)

    def ctor_def(self, meta, c):
        mods = [m for m in c if isinstance(m, _Modifier)]
        rest = [x for x in c if not isinstance(x, _Modifier)]
        body = rest[-1]
        params = tuple(p for p in rest[:-1] if p is not None)
        return n.FuncDef("constructor", params, (), tuple(m.word for m in mods), body,
                         is_constructor=True, span=_span(meta))

    def modifier(self, meta, c):
        return _Modifier(str(c[0]), _span(meta))

    def ret_single(self, meta, c):
        return _Returns((c[0],))

    def ret_multi(self, meta, c):
        return _Returns(tuple(c))

    def const_def(self, meta, c):
        return n.ConstDef(str(c[0]), c[1], c[2], span=_span(meta))

    def immutable_def(self, meta, c):
        public, name, typ = c
        return n.ImmutableDef(str(name), typ, public is not None, span=_span(meta))

    def storage_def(self, meta, c):
        public, name, typ = c
        return n.StorageDef(str(name), typ, public is not None, span=_span(meta))

    # ---- types
    def named_type(self, meta, c):
        return n.NamedType(str(c[0]), span=_span(meta))

    def fixed_array_type(self, meta, c):
        return n.ArrayType(c[0], c[1], span=_span(meta))

    def dyn_array_type(self, meta, c):
        return n.ArrayType(c[0], None, span=_span(meta))

    def map_type(self, meta, c):
        return n.MapType(c[0], c[1], span=_span(meta))

    # ---- statements
    def block(self, meta, c):
        return n.Block(tuple(c), span=_span(meta))

    def let_stmt(self, meta, c):
        *targets, value = c
        return n.Let(tuple(targets), value, span=_span(meta))

    def assign_stmt(self, meta, c):
        *targets, value = c
        return n.Assign(tuple(targets), value, span=_span(meta))

    def aug_assign_stmt(self, meta, c):
        target, op, value = c
        return n.AugAssign(target, str(op)[:-1], value, span=_span(meta))

    def if_stmt(self, meta, c):
        cond, body, orelse = c
        if isinstance(orelse, n.If):
            orelse = n.Block((orelse,), span=orelse.span)
        return n.If(cond, body, orelse, span=_span(meta))

    def for_stmt(self, meta, c):
        var, a, b, bound, body = c
        start, end = (None, a) if b is None else (a, b)
        return n.For(str(var), start, end, bound, body, span=_span(meta))

    def return_stmt(self, meta, c):
        return n.Return(tuple(x for x in c if x is not None), span=_span(meta))

    def emit_stmt(self, meta, c):
        name, args = c
        return n.Emit(str(name), _positional(args), span=_span(meta))

    def revert_stmt(self, meta, c):
        return n.Revert(c[0], span=_span(meta))

    def require_stmt(self, meta, c):
        return n.Require(c[0], c[1], span=_span(meta))

    def assert_stmt(self, meta, c):
        return n.Assert(c[0], span=_span(meta))

    def break_stmt(self, meta, c):
        return n.Break(span=_span(meta))

    def continue_stmt(self, meta, c):
        return n.Continue(span=_span(meta))

    def expr_stmt(self, meta, c):
        return n.ExprStmt(c[0], span=_span(meta))

    # ---- expressions
    def or_op(self, meta, c):
        return n.BoolOp("||", c[0], c[1], span=_span(meta))

    def and_op(self, meta, c):
        return n.BoolOp("&&", c[0], c[1], span=_span(meta))

    def compare(self, meta, c):
        return n.Compare(str(c[1]), c[0], c[2], span=_span(meta))

    def neg(self, meta, c):
        return n.UnaryOp("-", c[0], span=_span(meta))

    def not_op(self, meta, c):
        return n.UnaryOp("!", c[0], span=_span(meta))

    def invert(self, meta, c):
        return n.UnaryOp("~", c[0], span=_span(meta))

    def attribute(self, meta, c):
        return n.Attribute(c[0], str(c[1]), span=_span(meta))

    def index(self, meta, c):
        return n.Index(c[0], c[1], span=_span(meta))

    def call(self, meta, c):
        func, args = c
        kwargs = tuple(a for a in (args or ()) if isinstance(a, tuple))
        return n.Call(func, _positional(args), kwargs, span=_span(meta))

    def args(self, meta, c):
        return list(c)

    def kwarg(self, meta, c):
        return (str(c[0]), c[1])

    def int_lit(self, meta, c):
        return n.IntLit(int(str(c[0]).replace("_", ""), 0), span=_span(meta))

    def str_lit(self, meta, c):
        return n.StrLit(_unescape(c[0]), span=_span(meta))

    def hex_lit(self, meta, c):
        text = str(c[0])[4:-1]
        return n.HexLit(bytes.fromhex(text) if len(text) % 2 == 0 else _odd_hex(c[0]), span=_span(meta))

    def true_lit(self, meta, c):
        return n.BoolLit(True, span=_span(meta))

    def false_lit(self, meta, c):
        return n.BoolLit(False, span=_span(meta))

    def name(self, meta, c):
        return n.Name(str(c[0]), span=_span(meta))

    def array_lit(self, meta, c):
        return n.ArrayLit(tuple(x for x in c if x is not None), span=_span(meta))


for _rule, _op in _BINOPS.items():
    def _make(op):
        def build(self, meta, c):
            return n.BinOp(op, c[0], c[-1], span=_span(meta))
        return build
    setattr(ToAst, _rule, v_args(meta=True)(_make(_op)))


class _Modifier:
    def __init__(self, word: str, span: Span) -> None:
        self.word, self.span = word, span


class _Returns:
    def __init__(self, types: tuple) -> None:
        self.types = types


def _positional(args) -> tuple:
    return tuple(a for a in (args or ()) if not isinstance(a, tuple))


def _odd_hex(tok: Token):
    raise SynqSyntaxError("a hex literal needs an even number of digits", _tok_span(tok))


def _unescape(tok: Token) -> bytes:
    try:
        value = _pyast.literal_eval(str(tok))
    except Exception:
        raise SynqSyntaxError("bad escape sequence in string", _tok_span(tok)) from None
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError:
        raise SynqSyntaxError("string is not valid UTF-8", _tok_span(tok)) from None


def _readable(term: str) -> str:
    if term in _TERMINAL_NAMES:
        return _TERMINAL_NAMES[term]
    try:
        pattern = parser().get_terminal(term).pattern
    except KeyError:
        return term.lower()
    if pattern.type == "str":
        return f"'{pattern.value}'"
    return term.lower()


_FIRST = ["';'", "')'", "'}'", "']'", "','", "'{'", "':'", "'='"]


def _expected(names) -> str:
    words = sorted({_readable(t) for t in names}, key=lambda w: (_FIRST.index(w) if w in _FIRST else 99, w))
    if len(words) > 8:
        words = words[:8] + ["..."]
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " or " + words[-1]


def _found(tok: Token) -> str:
    if tok.type == "$END":
        return "end of file"
    return f"'{tok}'"


def _convert(exc: UnexpectedInput, source: str) -> SynqUserError:
    """The one place a Lark error becomes a SynQ error."""
    if isinstance(exc, UnexpectedToken):
        tok = exc.token
        if tok.type == "$END":
            lines = source.splitlines() or [""]
            span = Span(len(lines), len(lines[-1]) + 1, len(lines), len(lines[-1]) + 2)
        else:
            span = _tok_span(tok)
        return SynqSyntaxError(f"unexpected {_found(tok)}, expected {_expected(exc.expected)}", span)
    if isinstance(exc, UnexpectedCharacters):
        ch = source[exc.pos_in_stream] if exc.pos_in_stream < len(source) else "?"
        return SynqSyntaxError(f"unexpected character {ch!r}", Span(exc.line, exc.column, exc.line, exc.column + 1))
    if isinstance(exc, UnexpectedEOF):
        lines = source.splitlines() or [""]
        return SynqSyntaxError(
            f"unexpected end of file, expected {_expected(exc.expected)}",
            Span(len(lines), len(lines[-1]) + 1, len(lines), len(lines[-1]) + 2),
        )
    return SynqSyntaxError(str(exc).splitlines()[0])


def parse(source: str, path: str = "<stdin>") -> n.Module:
    """Parse SynQ source text into a Module. Raises SynqUserError on bad input."""
    try:
        tree = parser().parse(source)
    except UnexpectedInput as exc:
        raise _convert(exc, source).attach(path, source) from None
    except LarkError as exc:  # pragma: no cover - any other grammar failure
        raise SynqSyntaxError(str(exc).splitlines()[0]).attach(path, source) from None
    try:
        module = ToAst().transform(tree)
    except VisitError as exc:
        inner = exc.orig_exc
        if isinstance(inner, SynqUserError):
            raise inner.attach(path, source) from None
        raise InternalCompilerError(f"building the AST failed: {inner!r}") from inner
    return n.Module(module.items, path=path, source=source, span=module.span)
