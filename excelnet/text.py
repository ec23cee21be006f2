"""Strings from a model file or the command line, made safe to show anywhere.

A layer name may hold control characters (an ANSI escape recolours the terminal, NUL
breaks the workbook's XML), bidirectional overrides (text that reads differently from
what it is) or lone surrogates (no encoding can write them). Each such character
becomes a visible escape, `\\x1b` or `\\ud800`, so the name stays recognisable."""

from __future__ import annotations

import re

# Control characters (Unicode category Cc), lone surrogates (Cs), bidirectional controls and
# the non-characters U+FFFE/U+FFFF (XML forbids them: lxml refuses to write the workbook).
UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ufffe\uffff]")
NAME_LIMIT = 120          # characters: a name is a label, not a document


def _escape(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe_text(value, keep: str = "", limit: int | None = None) -> str:
    """`value` as a str with every control character, bidi override and lone surrogate
    escaped (except those in `keep`, e.g. newlines of a message), cut to `limit` characters."""
    text = value if isinstance(value, str) else str(value)
    if keep:
        text = "".join(part if part in keep else UNSAFE.sub(_escape, part)
                       for part in re.split(f"([{re.escape(keep)}])", text))
    else:
        text = UNSAFE.sub(_escape, text)
    if limit is not None and len(text) > limit:
        text = text[:limit - 1] + "…"
    return text


def safe_name(value) -> str:
    """A layer, model or class name as it is shown: escaped and at most NAME_LIMIT characters."""
    return safe_text(value, limit=NAME_LIMIT)


STRING_LITERAL_LIMIT = 255   # Excel refuses a longer text constant inside a formula


def formula_string(value) -> str:
    """A text from a model file (a layer or class name) as a formula's string literal: control
    characters escaped as everywhere, quotes doubled, so `a"&Output!B4&"` stays a name and never
    becomes part of the formula."""
    text = safe_text(value, limit=STRING_LITERAL_LIMIT)
    return '"' + text.replace('"', '""') + '"'


def safe_message(value) -> str:
    """An error message for the terminal: keeps its line breaks, escapes everything else."""
    return safe_text(value, keep="\n")


def clean_strings(value):
    """Every string in a parsed JSON value (keys too) made safe; numbers and structure kept."""
    if isinstance(value, str):
        return safe_text(value)
    if isinstance(value, dict):
        return {safe_text(k) if isinstance(k, str) else k: clean_strings(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clean_strings(v) for v in value]
    return value
