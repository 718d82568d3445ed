"""Each app process keeps its element and upload files in a folder of its own under APP_ROOT/.files.

Chainlit 2.12.0 writes every chat session's files (each element.update() writes one) under
`chainlit.config.FILES_DIRECTORY` (= APP_ROOT/.files, config.py line 61) and, when a process stops, its
server lifespan removes that whole folder (`shutil.rmtree(FILES_DIRECTORY)`, server.py lines 191-192).
With several app processes in one checkout, one process stopping deleted the files of every other
process's chats (`[Errno 2] No such file or directory: '.files/<session>'`). Pointing FILES_DIRECTORY at
`.files/<host>-<pid>` makes that removal take only the stopping process's own folder. Both references
must change: server.py imported the name at import time, session.py reads it from chainlit.config on use.

Folders of processes of this host that are gone (killed outright, so their lifespan never ran) are
removed when a process starts; a running process's folder is never touched.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
from pathlib import Path

log = logging.getLogger("tablechat.app")


def process_tag(pid: int | None = None) -> str:
    return f"{socket.gethostname()}-{os.getpid() if pid is None else pid}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def remove_left_behind(root: Path) -> list[Path]:
    """The folders under `root` of this host's processes that no longer run (removed); others are kept."""
    prefix = f"{socket.gethostname()}-"
    removed = []
    for entry in root.iterdir() if root.is_dir() else []:
        pid = entry.name.removeprefix(prefix)
        if not entry.is_dir() or not entry.name.startswith(prefix) or not pid.isdigit():
            continue
        if int(pid) != os.getpid() and not _alive(int(pid)):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


def use_own_files_dir() -> Path:
    """Point Chainlit at this process's own files folder (created), and tidy up after dead processes."""
    import chainlit.config
    import chainlit.server

    root = Path(chainlit.config.APP_ROOT) / ".files"
    own = root / process_tag()
    own.mkdir(parents=True, exist_ok=True)
    try:
        remove_left_behind(root)
    except OSError:  # tidying is a courtesy; another process may be doing the same
        log.debug("tidying %s failed", root, exc_info=True)
    chainlit.config.FILES_DIRECTORY = own
    chainlit.server.FILES_DIRECTORY = own
    return own
