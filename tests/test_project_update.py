"""Rebuilding into an existing project: mcugen regenerates only the files it
generated (manifest of SHA-256 hashes in .mcugen-project); the user's edits,
added files and .pio/ survive, and an edited generated file is not
overwritten without overwrite=True (``build --force``)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mcugen.boards import get_board
from mcugen.emit import render
from mcugen.errors import McugenError
from mcugen.project import MARKER, check_output_dir, edited_files, read_manifest, write_project

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def built():
    from mcugen.pipeline import prepare

    p = prepare(ROOT / "examples" / "digits_cnn.h5", ROOT / "examples" / "digits_calib.npz")
    board = get_board("uno")
    return p.graph, render(p.graph, board=board), board, p.graph.input.q.quantize(p.calib[:2])


def write(folder, built, **kw):
    g, cm, board, xq = built
    return write_project(folder, g, cm, board, xq, **kw)


def test_rebuild_keeps_added_files_and_pio(tmp_path, built):
    proj = write(tmp_path / "p", built)
    manifest = read_manifest(proj)
    assert "src/main.cpp" in manifest and "platformio.ini" in manifest and MARKER not in manifest
    (proj / "src" / "extra.cpp").write_text("int extra;\n")
    (proj / ".pio" / "build").mkdir(parents=True)
    (proj / ".pio" / "build" / "firmware.elf").write_bytes(b"\x7fELF")
    notes = []
    write(proj, built, notes=notes)
    assert (proj / "src" / "extra.cpp").read_text() == "int extra;\n"
    assert (proj / ".pio" / "build" / "firmware.elf").read_bytes() == b"\x7fELF"
    assert any("1 file you added" in n and ".pio/" in n for n in notes), notes


def test_edited_generated_file_is_refused_then_forced(tmp_path, built):
    proj = write(tmp_path / "p", built)
    main = proj / "src" / "main.cpp"
    edited = main.read_text() + "// my change\n"
    main.write_text(edited)
    assert edited_files(proj) == ["src/main.cpp"]
    with pytest.raises(McugenError, match=r"src/main\.cpp.*--force"):
        check_output_dir(proj)
    with pytest.raises(McugenError, match=r"src/main\.cpp"):
        write(proj, built)
    assert main.read_text() == edited  # nothing touched
    notes = []
    write(proj, built, overwrite=True, notes=notes)
    assert "my change" not in main.read_text()
    assert any("overwrote your changes to src/main.cpp" in n for n in notes), notes
    assert edited_files(proj) == []


def test_project_without_manifest_refuses_differing_files(tmp_path, built):
    """A project from an mcugen that kept no manifest: a generated file whose
    bytes differ from what would be written counts as edited."""
    proj = write(tmp_path / "p", built)
    (proj / MARKER).write_text("mcugen 0.1.0\n")
    write(proj, built)  # identical bytes: nothing to lose
    ini = proj / "platformio.ini"
    ini.write_text(ini.read_text() + "build_flags = -DMY_FLAG\n")
    with pytest.raises(McugenError, match="platformio.ini"):
        write(proj, built)
    assert "MY_FLAG" in ini.read_text()


def test_stale_generated_files_go_edited_ones_stay(tmp_path, built):
    proj = write(tmp_path / "p", built)
    g, cm, board, xq = built
    manifest = read_manifest(proj)
    # Pretend an earlier build generated two more files, one since edited.
    (proj / "lib" / "old").mkdir()
    (proj / "lib" / "old" / "old.c").write_text("old\n")
    (proj / "lib" / "old" / "kept.c").write_text("edited\n")
    import hashlib
    import json

    manifest["lib/old/old.c"] = hashlib.sha256(b"old\n").hexdigest()
    manifest["lib/old/kept.c"] = hashlib.sha256(b"original\n").hexdigest()
    (proj / MARKER).write_text(json.dumps({"mcugen": "0", "files": manifest}))
    with pytest.raises(McugenError, match="lib/old/kept.c"):
        write(proj, built)
    write(proj, built, overwrite=True)
    assert not (proj / "lib" / "old" / "old.c").exists()
    assert (proj / "lib" / "old" / "kept.c").read_text() == "edited\n"
    assert np.all([(proj / rel).is_file() for rel in read_manifest(proj)])
