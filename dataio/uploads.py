"""Files uploaded in the chat, kept server-side per account until they are imported: the upload itself
(read once on arrival, so a bad file is refused at once and never kept), and a link to it for each
create-table proposal made from it (so the proposal keeps its file even if the upload is pruned)."""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.settings import get_settings
from dataio.read import BadFile, read_table_file

KEEP_SECONDS = 24 * 3600  # an upload nobody imported is removed after a day


def _dir(account_id: uuid.UUID) -> Path:
    return get_settings().data_dir / "uploads" / str(account_id)


def _paths(account_id: uuid.UUID, key: str) -> tuple[Path, Path]:
    key = str(uuid.UUID(str(key)))  # only ids name files: no path comes from a payload
    base = _dir(account_id)
    return base / key, base / f"{key}.json"


@dataclass(frozen=True)
class Upload:
    """A file received in the chat, read successfully and kept until it is imported."""

    id: str
    filename: str
    rows: int
    columns: list[str]

    def note(self, active_table: str | None) -> str:
        """What the agent is told about the file, with the user's message."""
        cols = ", ".join(self.columns[:30]) + (" …" if len(self.columns) > 30 else "")
        where = (f' A table is open: "{active_table}" — use target "active_table" to add these rows to it (with '
                 "key_column to update the rows whose key matches), or \"new_table\" to make a new table."
                 if active_table else ' No table is open: use target "new_table".')
        return (f'[User uploaded the file "{self.filename}" (upload_id: {self.id}): {self.rows:,} rows, '
                f"{len(self.columns)} columns: {cols}. Call propose_import with this upload_id.{where}]")


def _prune(base: Path) -> None:
    cutoff = time.time() - KEEP_SECONDS
    for path in base.glob("*"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
        except FileNotFoundError:
            pass


def receive_upload(account_id: uuid.UUID, filename: str, source: str | os.PathLike[str] | bytes) -> Upload:
    """Read an uploaded file (BadFile says why it cannot be a table) and keep it for the account."""
    parsed = read_table_file(source, filename)
    if not parsed.columns:
        raise BadFile(f'"{filename}" has no columns. Upload a CSV or .xlsx file whose first row names them.')
    base = _dir(account_id)
    base.mkdir(parents=True, exist_ok=True)
    _prune(base)
    upload_id = str(uuid.uuid4())
    data, meta = _paths(account_id, upload_id)
    if isinstance(source, (bytes, bytearray)):
        data.write_bytes(source)
    else:
        shutil.copyfile(source, data)
    up = Upload(id=upload_id, filename=filename, rows=parsed.row_count, columns=list(parsed.columns))
    meta.write_text(json.dumps({"filename": filename, "rows": up.rows, "upload_id": upload_id}))
    return up


def kept(account_id: uuid.UUID, key: Any) -> tuple[Path, dict[str, Any]] | None:
    """The file kept under `key` (an upload or a proposal id) and what is known of it, or None."""
    try:
        data, meta = _paths(account_id, str(key))
    except ValueError:
        return None
    if not (data.exists() and meta.exists()):
        return None
    return data, json.loads(meta.read_text())


def keep_for_proposal(account_id: uuid.UUID, upload: Path, meta: dict[str, Any], proposal_id: Any) -> None:
    """Keep the upload's file for the create-table proposal made from it."""
    data, info = _paths(account_id, str(proposal_id))
    os.link(upload, data)  # the proposal keeps the file even if the upload is pruned
    info.write_text(json.dumps({**meta, "proposal_id": str(proposal_id)}))


def import_of(account_id: uuid.UUID, proposal_id: Any) -> dict[str, Any] | None:
    """The file behind a create-table proposal ({filename, rows}), or None when it is not an import."""
    found = kept(account_id, proposal_id)
    return found[1] if found else None


def discard(account_id: uuid.UUID, proposal_id: Any, *, with_upload: bool = False) -> None:
    """Remove the file kept for a decided proposal (and the upload it came from, once imported)."""
    found = kept(account_id, proposal_id)
    if found is None:
        return
    keys = [str(proposal_id)] + ([found[1]["upload_id"]] if with_upload else [])
    for key in keys:
        for path in _paths(account_id, key):
            path.unlink(missing_ok=True)
