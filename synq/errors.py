"""SynQ errors: user errors (bad programs) and internal errors (compiler bugs).

Every user error carries a source span; one renderer prints them as

    file:line:col: error: message
      <the source line>
          ^^^^

Errors are collected in a :class:`ErrorList` and raised together, sorted by position.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Span:
    """A source range: 1-based line/column of the start and end (end exclusive)."""

    line: int = 0
    col: int = 0
    end_line: int = 0
    end_col: int = 0

    def __bool__(self) -> bool:
        return self.line > 0


NO_SPAN = Span()


class SynqError(Exception):
    """Base of every error the compiler raises on purpose."""


class SynqUserError(SynqError):
    """A problem in the program being compiled. Rendered for the user, never a traceback."""

    kind = "error"

    def __init__(self, message: str, span: Span = NO_SPAN, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.span = span
        self.hint = hint
        self.path = "<stdin>"
        self.source = ""

    def attach(self, path: str, source: str) -> "SynqUserError":
        self.path, self.source = path, source
        return self

    def sort_key(self) -> tuple[int, int, str]:
        return (self.span.line, self.span.col, self.message)

    def render(self) -> str:
        return render(self)

    def __str__(self) -> str:
        if self.source:
            return render(self)
        return self.message


class SyntaxError_(SynqUserError):
    """Raised for text the grammar does not accept."""


# a readable alias; `SyntaxError` would shadow the builtin
SynqSyntaxError = SyntaxError_


class SemanticError(SynqUserError):
    """Names, types, mutability and other checks after parsing."""


class ErrorList(SynqUserError):
    """Several user errors from one run, sorted by position."""

    def __init__(self, errors: list[SynqUserError]) -> None:
        errs = sorted(errors, key=lambda e: e.sort_key())
        first = errs[0]
        super().__init__(first.message, first.span, first.hint)
        self.errors = errs

    def attach(self, path: str, source: str) -> "ErrorList":
        super().attach(path, source)
        for e in self.errors:
            e.attach(path, source)
        return self

    def render(self) -> str:
        return "\n".join(render(e) for e in self.errors)

    def __str__(self) -> str:
        return self.render() if self.source else "; ".join(e.message for e in self.errors)


class InternalCompilerError(SynqError):
    """A bug in the compiler (never the user's fault)."""


def raise_if_any(errors: list[SynqUserError]) -> None:
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise ErrorList(errors)


def render(err: SynqUserError) -> str:
    """`file:line:col: error: message`, the source line, a caret under the span, a hint."""
    span = err.span
    if not span:
        out = f"{err.path}: {err.kind}: {err.message}"
        return out + (f"\n  hint: {err.hint}" if err.hint else "")
    out = f"{err.path}:{span.line}:{span.col}: {err.kind}: {err.message}"
    lines = err.source.splitlines()
    if 0 < span.line <= len(lines):
        text = lines[span.line - 1]
        if span.end_line == span.line and span.end_col > span.col:
            width = span.end_col - span.col
        else:
            width = max(1, len(text.rstrip()) - (span.col - 1))
        width = max(1, min(width, max(1, len(text) - span.col + 1)))
        out += f"\n  {text}\n  {' ' * (span.col - 1)}{'^' * width}"
    if err.hint:
        out += f"\n  hint: {err.hint}"
    return out
