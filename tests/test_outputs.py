"""Tests for idgrad.ops.outputs (output files that replace nothing by accident) and
idgrad.ops.extras (the install line of an extra)."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

import pytest

from idgrad.ops import extras, outputs
from idgrad.ops.outputs import OutputError, OutputFolder, check_output_file, write_file


def test_check_writable_tries_instead_of_guessing(tmp_path: Path) -> None:
    outputs.check_writable(tmp_path / "not" / "yet", "--out x")  # its parent takes files
    assert not (tmp_path / "not").exists()  # nothing was created but the probe, now gone
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(OutputError, match="cannot create files in /proc"):
        outputs.check_writable("/proc/idgrad/out", "--out x")  # refused even to root
    (tmp_path / "f").write_text("x")
    with pytest.raises(OutputError, match="is a file, not a folder"):
        outputs.check_writable(tmp_path / "f" / "sub", "--out x")


def test_an_input_is_never_an_output(tmp_path: Path) -> None:
    data = tmp_path / "x.npy"
    data.write_bytes(b"input")
    (tmp_path / "sub").mkdir()
    link = tmp_path / "link.npy"
    link.symlink_to(data)
    for same in (data, link, tmp_path / "sub" / ".." / "x.npy"):
        with pytest.raises(OutputError, match="is the input"):
            check_output_file(same, overwrite=True, inputs=[data], what="--out")
    assert data.read_bytes() == b"input"
    check_output_file(tmp_path / "y.npy", overwrite=False, inputs=[data], what="--out")


def test_write_file_is_all_or_nothing(tmp_path: Path) -> None:
    out = tmp_path / "a.bin"

    def broken(f: object) -> None:
        raise OSError(28, "No space left on device")

    with pytest.raises(OutputError, match="cannot write .*No space left on device"):
        write_file(out, broken, overwrite=False)
    assert list(tmp_path.iterdir()) == []  # no output, no temporary file
    out.write_bytes(b"old")
    with pytest.raises(OutputError, match="cannot write"):
        write_file(out, broken, overwrite=True)
    assert out.read_bytes() == b"old"  # the old file is intact until the new one is whole


def test_a_new_file_never_replaces_one_that_appeared_meanwhile(tmp_path: Path) -> None:
    out = tmp_path / "a.bin"
    check_output_file(out, overwrite=False)  # absent when checked...

    def write(f: object) -> None:
        out.write_bytes(b"someone else's")  # ...appears while the run works
        f.write(b"ours")  # type: ignore[attr-defined]

    with pytest.raises(OutputError, match="exists; pass overwrite=True"):
        write_file(out, write, overwrite=False)
    assert out.read_bytes() == b"someone else's" and len(list(tmp_path.iterdir())) == 1


def test_overwrite_replaces_a_link_not_its_target(tmp_path: Path) -> None:
    target = tmp_path / "precious.txt"
    target.write_text("keep me")
    link = tmp_path / "out.txt"
    link.symlink_to(target)
    with pytest.raises(OutputError, match="exists"):
        check_output_file(link, overwrite=False)
    write_file(link, lambda f: f.write(b"new"), overwrite=True)
    assert target.read_text() == "keep me" and not link.is_symlink()
    assert link.read_bytes() == b"new"


def test_output_folder_replaces_only_unchanged_files_of_its_own(tmp_path: Path) -> None:
    folder = OutputFolder(tmp_path / "o", ".rec.json", overwrite=False)
    folder.check(["a", "b"])
    folder.write("a", lambda f: f.write(b"1"))
    folder.write("a", lambda f: f.write(b"2"))  # ours, unchanged: replaced in the same run
    again = OutputFolder(tmp_path / "o", ".rec.json", overwrite=False)
    again.check(["a", "b"])
    again.write("a", lambda f: f.write(b"3"))
    (tmp_path / "o" / "b").write_bytes(b"mine")
    with pytest.raises(OutputError, match="b exists and was not written"):
        OutputFolder(tmp_path / "o", ".rec.json", overwrite=False).check(["a", "b"])
    with pytest.raises(OutputError, match="b exists"):
        OutputFolder(tmp_path / "o", ".rec.json", overwrite=False).write("b", lambda f: None)
    assert (tmp_path / "o" / "b").read_bytes() == b"mine"
    (tmp_path / "o" / ".rec.json").write_text("{not json")  # a damaged record vouches for none
    with pytest.raises(OutputError, match="a exists"):
        OutputFolder(tmp_path / "o", ".rec.json", overwrite=False).check(["a"])
    OutputFolder(tmp_path / "o", ".rec.json", overwrite=True).check(["a", "b"])


@pytest.mark.parametrize("root", ["/src/idgrad", "/home/a user/idgrad", "/tmp/$HOME/x"])
def test_install_hint_works_as_pasted_in_a_shell(
    root: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(extras, "source_tree", lambda: Path(root))
    line = extras.install_hint("plot")
    words = shlex.split(line)
    assert words == ["pip", "install", "-e", f"{root}[plot]"]
    echoed = subprocess.run(
        ["bash", "-c", line.replace("pip install", "printf %s", 1)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "HOME": "/nowhere"},
    ).stdout
    assert echoed == f"-e{root}[plot]"  # bash passes the path through unchanged
    monkeypatch.setattr(extras, "source_tree", lambda: None)
    assert extras.install_hint("zoo").startswith('pip install ".[zoo]" (in idgrad\'s source')


def test_install_hint_names_this_source_tree() -> None:
    root = extras.source_tree()
    if root is None:
        pytest.skip("idgrad is installed from a wheel here")
    assert (root / "idgrad" / "ops" / "extras.py").is_file()
    assert extras.install_hint("plot") == f'pip install -e "{root}[plot]"'
