"""Files that must be refused, each with a phrase its error message must contain."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib


def png_bytes() -> bytes:
    """A real 4×4 PNG image."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 4, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * 52)) + chunk(b"IEND", b""))


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("readme.txt", "hello")
    return buf.getvalue()


def bad_files() -> dict[str, tuple[bytes, str]]:
    header = ",".join(f"c{i}" for i in range(10_000))
    return {
        "empty.csv": (b"", "is empty"),
        "blank.csv": (b"\r\n \n", "is empty"),
        "ragged.csv": (b"a,b,c\n1,2,3\n4,5\n", "line 3 has 2 fields but the header has 3"),
        "wide.csv": (f"{header}\n{','.join(['1'] * 10_000)}\n".encode(), "10,000 columns"),
        "photo.csv": (png_bytes(), "PNG"),
        "blob.csv": (bytes(range(256)) * 40, "binary"),
        "archive.xlsx": (_zip(), "not an Excel workbook"),
        "old.xls": (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(512), "old-style Excel"),
    }
