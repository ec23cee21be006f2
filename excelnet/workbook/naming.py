"""Sheet names that Excel accepts, whatever a model file calls its layers."""

from __future__ import annotations

import re

MAX_LENGTH = 31
# Excel forbids : \ / ? * [ ] (and a leading or trailing apostrophe). Some engines also
# trip over quotes and '!' inside quoted sheet references, so only plain characters are kept.
FORBIDDEN = re.compile(r"[^\w .()+\-=&,#@%]")
RESERVED = {"history"}


class SheetNamer:
    """Hands out unique, valid sheet names (Excel compares them case-insensitively)."""

    def __init__(self):
        self.used: set[str] = set()

    def __call__(self, wanted: str) -> str:
        base = FORBIDDEN.sub("_", wanted).strip().strip("'") or "sheet"
        base = base[:MAX_LENGTH].strip().strip("'") or "sheet"
        name, n = base, 1
        while name.lower() in self.used or name.lower() in RESERVED:
            n += 1
            suffix = f" ({n})"
            name = base[:MAX_LENGTH - len(suffix)].rstrip().rstrip("'") + suffix
        self.used.add(name.lower())
        return name
