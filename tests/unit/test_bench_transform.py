"""`bench.transform`'s bleach comparison really runs bleach: its swap of the content step
must reach `transform_note` (a refactor of the core once left it timing the core twice)."""

from __future__ import annotations

import hashlib

from bench.bleach_baseline import bleach_transform_content
from bench.transform import content_step

from crm_notes_migration.contract import NoteV1
from crm_notes_migration.transform import TransformOptions, transform_note

from .test_transform_note import RESOLVED, raw_note


def test_the_swapped_step_is_what_transform_note_runs():
    note = NoteV1.model_validate(raw_note(content_html="<p>a<script>x</script></p>"))
    with content_step(lambda html, note, resolution: ("SWAPPED é", [], 0)):
        doc = transform_note(1, note, RESOLVED, TransformOptions()).document
    assert doc["content"] == "SWAPPED é"
    assert doc["migration"]["content_sha256"] == hashlib.sha256("SWAPPED é".encode()).hexdigest()
    assert transform_note(1, note, RESOLVED, TransformOptions()).document["content"] == "<p>a</p>"


def test_the_bleach_step_runs_under_the_swap():
    note = NoteV1.model_validate(raw_note(content_html='<p onclick="x">a<script>y</script></p>'))
    with content_step(bleach_transform_content):
        doc = transform_note(1, note, RESOLVED, TransformOptions()).document
    assert doc["content"] == bleach_transform_content(note.content_html, note, RESOLVED)[0]


def test_compare_exports_each_revision_as_its_own_package(tmp_path, monkeypatch):
    import importlib
    import sys

    from bench.transform_compare import export, rates

    export(".", tmp_path, "tree_now")
    export("HEAD", tmp_path, "tree_head")
    monkeypatch.syspath_prepend(str(tmp_path))
    now = importlib.import_module("tree_now.transform")
    head = importlib.import_module("tree_head.transform")
    assert now.__file__.startswith(str(tmp_path / "tree_now"))
    assert head.__file__.startswith(str(tmp_path / "tree_head"))
    note = NoteV1.model_validate(raw_note(content_html="<p>a<script>x</script></p>"))
    found = rates([now, head], [(1, note, RESOLVED)] * 3)
    assert len(found) == 2 and all(rate > 0 for rate in found)
    for name in [n for n in sys.modules if n.startswith(("tree_now", "tree_head"))]:
        del sys.modules[name]
