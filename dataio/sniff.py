"""What the bytes of an upload are: the text of a CSV in its encoding, or a refusal naming what they are.

Text is decoded by its byte-order mark (UTF-8, UTF-16, UTF-32), else as strict UTF-8, else by
charset_normalizer, preferring Windows-1252 when that reads the bytes equally well (the encoding Excel
writes CSV in across Western Europe and the Americas; short texts are otherwise ambiguous between the
Latin code pages). Refused, whatever the file is called:
- NUL bytes, unless they fall where UTF-16 puts them (every other byte): text never holds them, and any
  decoder would otherwise turn a few bytes of garbage into a "table" of one column of CJK letters;
- a file that is partly UTF-8 and partly another encoding (half its accents would come out garbled);
- files with a known signature (images, PDF, archives, executables…) and text documents that are
  not tables (HTML, XML, JSON, RTF), named as such.
"""

from __future__ import annotations

import codecs
import json
import re

from dataio.limits import HELP, BadFile

BOMS = (  # longest first: the UTF-32 LE mark begins with the UTF-16 LE one
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
BINARY_BYTES = re.compile(rb"[\x01-\x08\x0e-\x1a\x1c-\x1f]")
UTF8_SEQUENCE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")
MARKUP = re.compile(r"\s*<(?:(!doctype\s+html|html|head|body)|(\?xml|svg|!doctype))", re.IGNORECASE)
SAMPLE = 65536


def decode(data: bytes, filename: str) -> tuple[str, str]:
    """The text of the file and the encoding used; BadFile for anything that is not the text of a table."""
    for bom, encoding in BOMS:
        if data.startswith(bom):
            try:
                text = data[len(bom):].decode(encoding)
            except UnicodeDecodeError as exc:
                raise BadFile(f'"{filename}" starts with a {encoding.upper()} byte-order mark but is not '
                              f"valid {encoding.upper()} (byte {exc.start + len(bom)}). Re-save it as UTF-8.",
                              encoding=encoding) from None
            return check_text(text, filename), encoding + ("-sig" if encoding == "utf-8" else "")
    _refuse_known_binary(data, filename)
    if b"\x00" in data and not _wide_text(data):
        line = data[: data.index(b"\x00")].count(b"\n") + 1
        raise BadFile(f'"{filename}" contains NUL bytes (line {line}): it is binary data, not text. {HELP}',
                      line=line)
    if b"\x00" not in data:
        try:
            return check_text(data.decode("utf-8"), filename), "utf-8"
        except UnicodeDecodeError as exc:
            _refuse_mixed(data, exc, filename)
    encoding = _detect_encoding(data)
    if encoding is None:
        raise BadFile(f'"{filename}" is a binary file, not text. {HELP}')
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError:
        raise BadFile(f'"{filename}" could not be read as text in any known encoding. Re-save it as UTF-8.'
                      ) from None
    return check_text(text, filename), encoding


def _refuse_known_binary(data: bytes, filename: str) -> None:
    import filetype

    kind = filetype.guess(data[:8192])
    # in text, two or three letters can look like a signature ("BM" of a bitmap): only binary content counts
    if kind is not None and (kind.extension in ("pdf", "rtf") or _binary_looking(data)):
        raise BadFile(f'"{filename}" is a {kind.extension.upper()} file ({kind.mime}), not a table. {HELP}',
                      detected=kind.mime)


def _binary_looking(data: bytes) -> bool:
    """NUL or control bytes, which no text has (a Latin-1 text is not UTF-8, yet is text)."""
    sample = data[:SAMPLE]
    return b"\x00" in sample or len(BINARY_BYTES.findall(sample)) > max(8, len(sample) // 100)


def _wide_text(data: bytes) -> bool:
    """NUL bytes as UTF-16 without a byte-order mark has them: all at even or all at odd offsets."""
    sample = data[:SAMPLE]
    if len(data) % 2:
        return False
    even = sample[0::2].count(0)
    odd = sample[1::2].count(0)
    return even + odd >= 2 and (even == 0 or odd == 0)


def _refuse_mixed(data: bytes, exc: UnicodeDecodeError, filename: str) -> None:
    if UTF8_SEQUENCE.search(data):
        line = data[: exc.start].count(b"\n") + 1
        raise BadFile(f'"{filename}" mixes text encodings: it is partly UTF-8, but line {line} has a byte that '
                      f"is not (0x{data[exc.start]:02X}). Re-save the whole file in one encoding (UTF-8).",
                      line=line)


def _detect_encoding(data: bytes) -> str | None:
    """charset_normalizer's choice, except that Windows-1252 (then Latin-1) wins among equals."""
    from charset_normalizer import from_bytes

    matches = list(from_bytes(data))
    if not matches:
        return None
    least = min(m.chaos for m in matches)
    for m in matches:
        could_be = set(m.could_be_from_charset)
        if m.chaos <= least and could_be & {"cp1252", "latin_1"}:
            try:
                data.decode("cp1252")
                return "cp1252"
            except UnicodeDecodeError:
                return "latin-1"
    return matches[0].encoding


def check_text(text: str, filename: str) -> str:
    """The text, once it is known to be the text of a table (not binary, not another kind of document)."""
    text = text.lstrip("\ufeff")  # a second byte-order mark, left by tools that add one regardless
    sample = text[:SAMPLE]
    if "\x00" in sample or len(CONTROL.findall(sample)) > max(8, len(sample) // 100):
        raise BadFile(f'"{filename}" contains binary data, not text. {HELP}')
    if not text.strip():
        raise BadFile(f'"{filename}" is empty. {HELP}')
    kind = _document_kind(text)
    if kind:
        raise BadFile(f'"{filename}" is {kind}, not a table. {HELP}', detected=kind)
    return text


def _document_kind(text: str) -> str | None:
    head = text[:200].lstrip()
    if head.startswith("%PDF-"):
        return "a PDF document"
    if head.startswith("{\\rtf"):
        return "an RTF document"
    found = MARKUP.match(text[:1000])
    if found:
        return "an HTML page" if found.group(1) else "an XML document"
    if head[:1] in ("{", "["):
        try:
            value = json.loads(text)
        except ValueError:
            return None
        return "JSON data" if isinstance(value, (dict, list)) else None
    return None
