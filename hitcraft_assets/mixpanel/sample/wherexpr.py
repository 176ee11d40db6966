"""A small subset of Mixpanel's segmentation-expression language for the export `where` parameter.

Supported:  operands  `properties["name"]`, `event` (the event name), string literals ("x" or 'x'), numbers,
            `true`/`false`; comparisons `==`, `!=`, `<`, `<=`, `>`, `>=`; `defined(properties["name"])`;
            boolean `and`, `or`, `not`; parentheses.
Anything else raises WhereError (the app answers 400).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

__all__ = ["WhereError", "compile_where"]

_TOKEN = re.compile(
    r"""\s*(?:
    (?P<num>-?\d+(?:\.\d+)?) |
    (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*') |
    (?P<op>==|!=|<=|>=|<|>|\(|\)|\[|\]) |
    (?P<name>[A-Za-z_][A-Za-z_0-9]*)
)""",
    re.VERBOSE,
)


class WhereError(ValueError):
    pass


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise WhereError(f"unsupported syntax at {text[pos : pos + 20]!r}")
        kind = m.lastgroup
        out.append((kind, m.group(kind)))
        pos = m.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


_CMP: dict[str, Callable[[Any, Any], bool]] = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a is not None and b is not None and a < b,
    "<=": lambda a, b: a is not None and b is not None and a <= b,
    ">": lambda a, b: a is not None and b is not None and a > b,
    ">=": lambda a, b: a is not None and b is not None and a >= b,
}


def _or(a, b):
    return lambda ev: a(ev) or b(ev)


def _and(a, b):
    return lambda ev: a(ev) and b(ev)


class _Parser:
    def __init__(self, toks):
        self.t, self.i = toks, 0

    def peek(self):
        return self.t[self.i] if self.i < len(self.t) else (None, None)

    def take(self, value=None):
        tok = self.peek()
        if tok[0] is None or (value is not None and tok[1] != value):
            raise WhereError(f"expected {value or 'more input'}, got {tok[1]!r}")
        self.i += 1
        return tok

    def parse(self):
        f = self.or_()
        if self.i != len(self.t):
            raise WhereError(f"unexpected {self.t[self.i][1]!r}")
        return f

    def or_(self):
        f = self.and_()
        while self.peek() == ("name", "or"):
            self.take()
            a, b = f, self.and_()
            f = _or(a, b)
        return f

    def and_(self):
        f = self.not_()
        while self.peek() == ("name", "and"):
            self.take()
            a, b = f, self.not_()
            f = _and(a, b)
        return f

    def not_(self):
        if self.peek() == ("name", "not"):
            self.take()
            g = self.not_()
            return lambda ev: not g(ev)
        return self.cmp()

    def cmp(self):
        if self.peek() == ("op", "("):
            self.take()
            f = self.or_()
            self.take(")")
            return f
        if self.peek() == ("name", "defined"):
            self.take()
            self.take("(")
            get = self.operand()
            self.take(")")
            return lambda ev: get(ev) is not None
        left = self.operand()
        kind, op = self.peek()
        if kind != "op" or op not in _CMP:
            return lambda ev: bool(left(ev))
        self.take()
        right = self.operand()
        fn = _CMP[op]

        def pred(ev):
            try:
                return fn(left(ev), right(ev))
            except TypeError:
                return False

        return pred

    def operand(self):
        kind, val = self.take()
        if kind == "num":
            v = float(val) if "." in val else int(val)
            return lambda ev: v
        if kind == "str":
            s = bytes(val[1:-1], "utf-8").decode("unicode_escape")
            return lambda ev: s
        if kind == "name":
            if val == "properties":
                self.take("[")
                k, key = self.take()
                if k != "str":
                    raise WhereError("properties[...] needs a quoted property name")
                self.take("]")
                name = key[1:-1]
                return lambda ev: ev["properties"].get(name)
            if val == "event":
                return lambda ev: ev["event"]
            if val in ("true", "false"):
                b = val == "true"
                return lambda ev: b
        raise WhereError(f"unsupported operand {val!r}")


def compile_where(text: str) -> Callable[[dict], bool]:
    """Compile an expression into a predicate over export-format dicts."""
    toks = _tokens(text)
    if not toks:
        raise WhereError("empty expression")
    return _Parser(toks).parse()
