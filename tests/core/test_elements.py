"""The parts of the custom elements are pasted, current, into every element that names them (core/elements.py)."""

import re

import pytest

from core import elements
from core.elements import begin_marker, end_marker, imported_names, own_code, paste

PARTS = {
    "shared/look.jsx": "const COLOR = { bad: \"#dc2626\" };\n",
    "e/parts.jsx": 'import { Check, X as Cross } from "lucide-react";\nfunction Ok() { return <Check />; }\n',
}


def _element(*names: str, imports: str = 'import { Button } from "@/components/ui/button";\n') -> str:
    regions = "".join(f"{begin_marker(n)}\nstale copy\n{end_marker(n)}\n\n" for n in names)
    return f"{imports}\n// the element\n\n{regions}export default function E() {{ return <Ok />; }}\n"


def test_every_element_holds_the_current_shared_files():
    assert elements.build(write=False) == [], "run `make elements` after editing a part under public/elements/"


def test_both_elements_paste_the_palette_and_the_proposal_its_preview_parts():
    proposal = (elements.ELEMENTS / "Proposal.jsx").read_text()
    live = (elements.ELEMENTS / "LiveTable.jsx").read_text()
    for name in ("shared/look.jsx", "shared/preview.jsx", "proposal/create.jsx", "proposal/schema.jsx",
                 "proposal/data.jsx"):
        assert begin_marker(name) in proposal
    assert begin_marker("shared/look.jsx") in live


ALL_JSX = sorted(p for p in elements.ELEMENTS.rglob("*.jsx") if p != elements.SHARED / "look.jsx")


@pytest.mark.parametrize("path", ALL_JSX, ids=lambda p: str(p.relative_to(elements.ELEMENTS)))
def test_colours_are_written_only_in_the_palette(path):
    own = own_code(path.read_text())
    assert not re.search(r"#[0-9a-fA-F]{3,8}\b|rgba?\(", own)


def test_paste_replaces_each_region_with_its_file_and_keeps_the_rest():
    source = _element("shared/look.jsx", "e/parts.jsx")
    built = paste(source, PARTS.__getitem__)
    assert "stale copy" not in built
    assert built.count(PARTS["shared/look.jsx"]) == 1 and built.count(PARTS["e/parts.jsx"]) == 1
    assert built.startswith('import { Button } from "@/components/ui/button";\n\n// the element\n')
    assert built.endswith("export default function E() { return <Ok />; }\n")
    assert paste(built, PARTS.__getitem__) == built  # pasting again changes nothing


def test_a_name_imported_by_the_element_and_a_pasted_file_is_refused():
    source = _element("e/parts.jsx", imports='import { Check } from "lucide-react";\n')
    with pytest.raises(ValueError, match="Check"):
        paste(source, PARTS.__getitem__)


def test_imported_names_reads_default_named_aliased_and_multiline_imports():
    source = (
        'import React, { useState } from "react";\n'
        "import {\n  Check,\n  X as Cross,\n} from 'lucide-react';\n"
        'import * as Icons from "lucide-react";\n'
    )
    assert imported_names(source) == ["useState", "React", "Check", "Cross", "Icons"]


def test_check_mode_reports_an_out_of_date_element_without_writing(tmp_path, monkeypatch, capsys):
    for name, text in PARTS.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(text)
    element = tmp_path / "E.jsx"
    element.write_text(_element("shared/look.jsx"))
    monkeypatch.setattr(elements, "ELEMENTS", tmp_path)

    assert elements.main(["--check"]) == 1
    assert "stale copy" in element.read_text()
    assert "out of date" in capsys.readouterr().out
    assert elements.main([]) == 0
    assert PARTS["shared/look.jsx"] in element.read_text()
    assert elements.main(["--check"]) == 0


def test_a_region_cannot_reach_outside_public_elements(tmp_path, monkeypatch):
    monkeypatch.setattr(elements, "ELEMENTS", tmp_path)
    (tmp_path / "E.jsx").write_text(_element("../secret.jsx"))
    with pytest.raises(ValueError, match="not a part"):
        elements.build(write=False)
