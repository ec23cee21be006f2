"""Formula text -> a small expression tree whose references are numbered slots.

Thousands of cells share one formula shape and differ only in the cells they refer to
(`MAX('1 conv1'!A1:B2)`, `MAX('1 conv1'!C1:D2)`, ...). `shape_key` removes the references
with one regular expression (no Python work per reference), so cells group by shape; each
group's tree is parsed once and its references are read for all members with one `findall`.
Parsing is only done on one member per group, so it favours clarity over speed."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..layout import quote_sheet

# A reference as the fast path sees it: an optional sheet, a cell, an optional second cell.
# Quoted sheet names never contain '"', so string literals stay whole in the shape key.
_CELL = r"\$?([A-Z]{1,3})\$?(\d+)"
SLOT = re.compile(r"(?<![\w.$'\"])(?=['$A-Za-z_])(?:'([^'\"]*(?:''[^'\"]*)*)'!|([A-Za-z_][\w.]*)!)?" + _CELL
                  + r"(?::" + _CELL + r")?(?![\w.(!])")


def shape_key(expression: str) -> str:
    """The formula without its references: equal for cells that differ only in what they refer to."""
    return SLOT.sub("", expression)


class FormulaError(Exception):
    """A formula the evaluator cannot read or compute (names the function or the text)."""


@dataclass(frozen=True)
class Node:
    kind: str            # num | str | bool | err | slot | neg | op | call
    value: object = None  # the number, text, slot index, operator or function name
    args: tuple = ()


_TOKEN = re.compile(r"""\s*(?:
    (?P<str>"(?:[^"]|"")*")
  | (?P<ref>(?:'(?:[^']|'')+'!|[A-Za-z_][\w.]*!)?\$?[A-Z]{1,3}\$?\d+(?::\$?[A-Z]{1,3}\$?\d+)?)(?![\w.(!])
  | (?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<err>\#(?:NULL!|DIV/0!|VALUE!|REF!|NAME\?|NUM!|N/A))
  | (?P<func>[A-Za-z_][\w.]*)\(
  | (?P<bool>TRUE|FALSE)(?![\w.(])
  | (?P<op><>|<=|>=|[-+*/^&=<>(),%])
  )""", re.X)

# Binding power of the binary operators, as Excel ranks them (comparison loosest).
BINARY = {"=": 1, "<>": 1, "<": 1, ">": 1, "<=": 1, ">=": 1, "&": 2, "+": 3, "-": 3, "*": 4, "/": 4, "^": 5}


def tokens(expression: str) -> list[tuple[str, str, int, int]]:
    """(kind, text, start, end) of every token."""
    out, at = [], 0
    while at < len(expression):
        match = _TOKEN.match(expression, at)
        if not match or match.end() == at:
            raise FormulaError(f"cannot read the formula ={expression} at {expression[at:at + 20]!r}")
        kind = match.lastgroup
        text = match.group(kind)
        out.append((kind, text, match.start(kind), match.end(kind)))
        at = match.end()
    return out


class _Parser:
    def __init__(self, expression: str):
        self.expression = expression
        self.tokens = tokens(expression)
        self.at = 0
        self.slots: list[tuple[int, int]] = []      # (start, end) of each reference

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.at][:2] if self.at < len(self.tokens) else None

    def take(self, text: str | None = None) -> tuple[str, str, int, int]:
        if self.at >= len(self.tokens) or (text is not None and self.tokens[self.at][1] != text):
            raise FormulaError(f"cannot read the formula ={self.expression}: expected {text or 'more'}")
        self.at += 1
        return self.tokens[self.at - 1]

    def expression_(self, power: int = 0) -> Node:
        left = self.unary()
        while True:
            token = self.peek()
            if token is None or token[0] != "op" or BINARY.get(token[1], 0) <= power:
                return left
            self.take()
            # '^' binds to the right in maths but to the left in Excel; all are left-associative here.
            left = Node("op", token[1], (left, self.expression_(BINARY[token[1]])))

    def unary(self) -> Node:
        token = self.peek()
        if token == ("op", "-"):
            self.take()
            return Node("neg", None, (self.unary(),))
        if token == ("op", "+"):
            self.take()
            return self.unary()
        node = self.primary()
        if self.peek() == ("op", "%"):
            self.take()
            node = Node("op", "/", (node, Node("num", 100.0)))
        return node

    def primary(self) -> Node:
        kind, text, start, end = self.take()
        if kind == "num":
            return Node("num", float(text))
        if kind == "str":
            return Node("str", text[1:-1].replace('""', '"'))
        if kind == "bool":
            return Node("bool", text == "TRUE")
        if kind == "err":
            return Node("err", text)
        if kind == "ref":
            self.slots.append((start, end))
            return Node("slot", len(self.slots) - 1)
        if kind == "func":
            args = []
            if self.peek() != ("op", ")"):
                args.append(self.expression_())
                while self.peek() == ("op", ","):
                    self.take()
                    args.append(self.expression_())
            self.take(")")
            return Node("call", text.upper(), tuple(args))
        if text == "(":
            node = self.expression_()
            self.take(")")
            return node
        raise FormulaError(f"cannot read the formula ={self.expression}: unexpected {text!r}")


def parse(expression: str) -> tuple[Node, list[tuple[int, int]]]:
    """The tree of a formula (without '='), and the (start, end) of each reference slot in it."""
    parser = _Parser(expression)
    tree = parser.expression_()
    if parser.at != len(parser.tokens):
        raise FormulaError(f"cannot read the formula ={expression}: unexpected {parser.tokens[parser.at][1]!r}")
    return tree, parser.slots


def fast_slots_agree(expression: str, slots: list[tuple[int, int]]) -> bool:
    """True when the fast SLOT expression finds exactly the references the parser found
    (not, say, 'A1' inside a text), so the shape key and findall may be trusted for the group."""
    return [m.span() for m in SLOT.finditer(expression)] == slots


def column_number(letters: str) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + ord(letter) - 64
    return number


def read_reference(match: re.Match, here: str) -> tuple[str, int, int, int, int]:
    """(sheet, top, left, height, width) of a reference SLOT matched, seen from sheet `here`."""
    quoted, plain, c1, r1, c2, r2 = match.groups()
    top, left = int(r1), column_number(c1)
    bottom, right = (int(r2), column_number(c2)) if c2 else (top, left)
    return (sheet_name(quoted, plain, here), min(top, bottom), min(left, right),
            abs(bottom - top) + 1, abs(right - left) + 1)


def sheet_name(quoted: str | None, plain: str | None, here: str) -> str:
    """The sheet a reference points at, from SLOT's two sheet groups."""
    if quoted is not None:
        return quoted.replace("''", "'")
    return plain or here


__all__ = ["SLOT", "Node", "FormulaError", "parse", "shape_key", "fast_slots_agree", "column_number",
           "read_reference", "sheet_name", "quote_sheet"]
