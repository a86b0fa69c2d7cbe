"""What ships and what is pinned: the license, the sdist's contents, the lint tool versions."""

from __future__ import annotations

import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _pins(text: str) -> dict[str, str]:
    return dict(re.findall(r"\b([A-Za-z][\w.-]*)==([\w.]+)", text))


def test_precommit_hooks_use_the_pinned_tools() -> None:
    constraints = _pins((ROOT / "constraints.txt").read_text())
    hooks = (ROOT / ".pre-commit-config.yaml").read_text()
    assert _pins(hooks), "no pinned hook dependency found"
    for tool, version in _pins(hooks).items():
        assert constraints.get(tool) == version, f"{tool}=={version} vs constraints.txt"
    assert ".venv/bin/mypy idgrad benchmarks" in hooks  # the same targets as `make lint`
    assert "$(BIN)/mypy idgrad benchmarks" in (ROOT / "Makefile").read_text()


def test_license_is_spdx_mit_and_listed() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'^license = "MIT"$', pyproject, re.MULTILINE)
    assert re.search(r'^license-files = \["LICENSE"\]$', pyproject, re.MULTILINE)
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")


@pytest.mark.skipif(not (ROOT / ".git").exists(), reason="builds the sdist of a source checkout")
def test_sdist_ships_the_tests_with_their_helpers(tmp_path: Path) -> None:
    """The sdist holds what running its tests needs: helpers, conftest, pages, examples."""
    pytest.importorskip("setuptools", minversion="77")
    build = (
        "import sys; from setuptools import build_meta; print(build_meta.build_sdist(sys.argv[1]))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", build, str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    name = proc.stdout.strip().splitlines()[-1]
    with tarfile.open(tmp_path / name) as sdist:
        members = {m.split("/", 1)[1] for m in sdist.getnames() if "/" in m}
    for needed in (
        "LICENSE",
        "README.md",
        "tests/conftest.py",
        "tests/models.py",
        "tests/test_docs.py",
        "tests/dataset_job.py",
        "docs/index.md",
        "docs/images/chelsea_attributions.png",
        "examples/text_minilm.py",
        "benchmarks/run.py",
        "idgrad/py.typed",
    ):
        assert needed in members, f"{needed} is not in the sdist"
    assert not [m for m in members if m.endswith(".pyc")]
    assert "warning: no files found" not in proc.stderr.lower(), proc.stderr
