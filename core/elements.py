"""Paste the parts of the custom elements into each element that names them (`make elements`).

Chainlit runs every `public/elements/<Name>.jsx` on its own with react-runner, whose imports resolve
only a fixed map of packages: an element cannot import a sibling file. Code shared by several elements
lives once in `public/elements/shared/` (and a long element keeps its parts in a folder of its own);
it is copied between marker lines of the element that names it, the path relative to public/elements:

    // ==== pasted from shared/look.jsx (edit public/elements/shared/look.jsx, then `make elements`) ====
    // ==== end of shared/look.jsx ====

`python -m core.elements` rewrites those regions; `--check` only reports elements whose copies differ
(a test runs it). Every name stays imported once per element: a pasted file's imports count as the
element's, so the element uses them without importing them again.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path

ELEMENTS = Path(__file__).resolve().parents[1] / "public" / "elements"
SHARED = ELEMENTS / "shared"

_REGION = re.compile(
    r"^// ==== pasted from (?P<name>[\w./-]+) [^\n]*====\n(?P<body>.*?)^// ==== end of (?P=name) ====$",
    re.MULTILINE | re.DOTALL,
)
_IMPORT = re.compile(r"^import\s+(?P<what>.+?)\s+from\s+[\"'][^\"']+[\"'];?\s*$", re.MULTILINE | re.DOTALL)


def begin_marker(name: str) -> str:
    return f"// ==== pasted from {name} (edit public/elements/{name}, then `make elements`) ===="


def end_marker(name: str) -> str:
    return f"// ==== end of {name} ===="


def imported_names(source: str) -> list[str]:
    """The local names the import statements of `source` declare."""
    names: list[str] = []
    for match in _IMPORT.finditer(source):
        what = match.group("what")
        braces = re.search(r"\{(.*)\}", what, re.DOTALL)
        if braces:
            for part in braces.group(1).split(","):
                if part.strip():
                    names.append(part.split(" as ")[-1].strip())
            what = what[: braces.start()] + what[braces.end():]
        for part in what.split(","):
            part = part.strip()
            if part:
                names.append(part.split(" as ")[-1].strip())
    return names


def own_code(source: str) -> str:
    """`source` without its pasted regions: what the element itself writes."""
    return _REGION.sub("", source)


def paste(source: str, read: Callable[[str], str]) -> str:
    """`source` with every shared region holding `read(name)`; ValueError on a name imported twice."""

    def fill(match: re.Match[str]) -> str:
        name = match.group("name")
        body = read(name).rstrip("\n") + "\n"
        return f"{begin_marker(name)}\n{body}{end_marker(name)}"

    built = _REGION.sub(fill, source)
    names = imported_names(built)
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"imported more than once (a pasted file imports it already): {', '.join(twice)}")
    return built


def _read_part(name: str) -> str:
    if ".." in Path(name).parts or not name.endswith(".jsx"):
        raise ValueError(f"not a part under public/elements: {name}")
    return (ELEMENTS / name).read_text()


def build(*, write: bool) -> list[Path]:
    """The elements whose pasted copies differ from the shared files (rewritten when `write`)."""
    changed = []
    for path in sorted(ELEMENTS.glob("*.jsx")):
        source = path.read_text()
        built = paste(source, _read_part)
        if built != source:
            changed.append(path)
            if write:
                path.write_text(built)
    return changed


def main(argv: list[str]) -> int:
    check = "--check" in argv
    changed = build(write=not check)
    for path in changed:
        print(f"{'out of date' if check else 'updated'}: {path.relative_to(ELEMENTS.parents[1])}")
    return 1 if check and changed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
