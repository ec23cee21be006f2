"""How much of a model file excelnet will read: a model that fits in a workbook needs
megabytes, so a file that claims gigabytes (a zip bomb, a dataset declared huge but
compressed to nothing) is refused before it can exhaust the machine."""

from __future__ import annotations

import io
import struct
import zipfile

MAX_FILE_BYTES = 64 * 2**20        # the model file on disk
MAX_MEMBER_BYTES = 64 * 2**20      # what one archive member may inflate to
MAX_JSON_BYTES = 8 * 2**20         # a config: a few kB for a real model
MAX_WEIGHT_VALUES = 16 * 2**20     # numbers read from all weight datasets together
MAX_ARCHIVE_MEMBERS = 1000         # a .keras holds three
# A CNN that fits in a workbook has tens of layers; the build's time grows with their number
# (10,000 one-cell Keras layers took 32 s, 9,000 ONNX ones 75 s: past the 30 s a hostile file may take)
MAX_LAYERS = 1_000
CHUNK = 2**20


class Refused(ValueError):
    """The file holds something excelnet will not read: too big, or data kept outside it."""


def megabytes(size: int) -> str:
    return f"{size / 2**20:,.0f} MB"


def archive_member_count(data: bytes) -> int | None:
    """Entries in a zip archive, from its end record, before zipfile builds an object per entry."""
    end = data.rfind(b"PK\x05\x06", max(0, len(data) - 65_557))
    if end < 0 or end + 22 > len(data):
        return None
    count = struct.unpack_from("<H", data, end + 10)[0]
    return None if count == 0xFFFF else count      # 0xFFFF: zip64, counted by zipfile


def read_member(archive: zipfile.ZipFile, name: str, limit: int = MAX_MEMBER_BYTES) -> bytes:
    """An archive member, inflated in bounded chunks: stops as soon as it grows past `limit`
    (the size its header declares may lie)."""
    out = io.BytesIO()
    with archive.open(name) as member:
        while True:
            chunk = member.read(CHUNK)
            if not chunk:
                return out.getvalue()
            if out.tell() + len(chunk) > limit:
                raise Refused(f"its {name} inflates to more than {megabytes(limit)} (a model that fits "
                             "in a workbook needs far less); it may be a zip bomb")
            out.write(chunk)
