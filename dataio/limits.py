"""What an imported file may hold (settings TABLECHAT_IMPORT_MAX_*), and the error a refused file raises."""

from __future__ import annotations

from dataclasses import dataclass

from db.errors import Invalid

MB = 1024 * 1024
HELP = "Upload a CSV (comma, semicolon or tab separated) or an Excel .xlsx file."


class BadFile(Invalid):
    """The file cannot be read as a table; the message names the file, says why and what to do."""

    code = "bad_file"


class FileTooLarge(BadFile):
    code, status = "file_too_large", 413


@dataclass(frozen=True)
class ImportLimits:
    """A file over any of these is refused before anything is created."""

    max_bytes: int = 200 * MB
    max_rows: int = 1_000_000
    max_columns: int = 1000
    max_field_chars: int = 1_000_000
    max_unzipped_bytes: int = 1000 * MB

    @classmethod
    def from_settings(cls) -> ImportLimits:
        from core.settings import get_settings

        s = get_settings()
        return cls(max_bytes=s.import_max_mb * MB, max_rows=s.import_max_rows, max_columns=s.import_max_columns,
                   max_field_chars=s.import_max_field_chars, max_unzipped_bytes=s.import_max_unzipped_mb * MB)


def mb(n: int) -> str:
    return f"{n / MB:,.0f} MB"


def check_size(size: int, max_bytes: int | None = None) -> None:
    """FileTooLarge when a file of `size` bytes is over the limit (default: the setting)."""
    limit = ImportLimits.from_settings().max_bytes if max_bytes is None else max_bytes
    if size > limit:
        raise FileTooLarge(f"The file is {mb(size)}; the most tablechat imports is {mb(limit)}. "
                           "Split it into smaller files.", size=size, limit=limit)


def check_field(value: str, filename: str, where: str, limits: ImportLimits) -> None:
    if len(value) > limits.max_field_chars:
        raise BadFile(f'"{filename}" has a value of {len(value):,} characters ({where}); a cell holds at most '
                      f"{limits.max_field_chars:,} characters. Shorten it or split it.",
                      chars=len(value), limit=limits.max_field_chars)


def check_width(width: int, filename: str, limits: ImportLimits) -> None:
    if width > limits.max_columns:
        raise BadFile(f'"{filename}" has {width:,} columns; a table holds at most {limits.max_columns:,}. '
                      "Remove the columns you do not need and upload it again.",
                      columns=width, limit=limits.max_columns)


def check_rows(count: int, filename: str, limits: ImportLimits) -> None:
    if count > limits.max_rows:
        raise BadFile(f'"{filename}" has more than {limits.max_rows:,} rows, the most one import takes. '
                      "Split it into smaller files.", limit=limits.max_rows)
