"""Every code block in README.md and docs/*.md runs as written.

Blocks are taken in order, page by page:

* ``python`` blocks run in one namespace per page (a later block may use what an earlier
  one defined, as a reader would), in a temporary folder that is the page's working
  directory;
* ``sh``/``bash`` blocks run with bash (``-e -o pipefail``) in the same folder, with the
  test interpreter's ``bin/`` first on ``PATH`` (so ``idgrad``, ``python`` and
  ``torchrun`` are the installed ones), ``examples/`` linked in, and ``.venv`` linked to the
  test's virtual environment (pages speak of a clone where ``make`` built ``.venv``). The
  lines ``make demo`` and ``make test`` are the only exceptions: they build ``.venv`` and
  run this suite, so they are left out (see
  :func:`test_make_lines_are_the_only_exceptions`);
* ``text`` blocks are output or file listings and are not run;
* a line ``--8<-- "path"`` (mkdocs' snippet syntax, e.g. in docs/examples.md) stands for the
  file's text, as on the rendered page. A fence without a
  language fails :func:`test_every_fence_is_tagged`.

A page's set-up sits in the page itself, usually in a collapsed ``<details>`` block.
An HTML comment on the line(s) just above a fence can say how the test treats it:

* ``<!-- docs-test: cheaper "OLD" "NEW" -->``: run the block with ``OLD`` replaced by
  ``NEW`` (for an expensive real-model run; ``OLD`` must occur in the block);
* ``<!-- docs-test: needs MODULE [MODULE ...] -->``: the block needs optional packages;
  without them it is reported as skipped, with the reason, by :func:`test_block_not_run`;
* ``<!-- docs-test: not-run "REASON" -->``: the block cannot run here (several GPUs,
  several nodes); reported as skipped with the reason, never silently.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
RUN_LANGS = {"python": "python", "sh": "shell", "bash": "shell", "shell": "shell"}
TEXT_LANGS = {"text"}
EXCEPTED_MAKE = {"make demo", "make test"}

_FENCE = re.compile(r"^( *)(`{3,}|~{3,})\s*([\w+-]*)")
_SNIPPET = re.compile(r'^\s*--8<--\s+"([^":]+)"\s*$')
_MARKER = re.compile(r"^\s*<!--\s*docs-test:\s*(.*?)\s*-->\s*$")


@dataclass
class Block:
    """One fenced code block of a page."""

    page: Path
    line: int  # 1-based line number of the opening fence
    lang: str
    code: str
    cheaper: list[tuple[str, str]] = field(default_factory=list)
    needs: list[str] = field(default_factory=list)
    not_run: str | None = None

    @property
    def where(self) -> str:
        page = self.page.relative_to(ROOT) if self.page.is_relative_to(ROOT) else self.page
        return f"{page}:{self.line}"

    @property
    def kind(self) -> str | None:
        return RUN_LANGS.get(self.lang)

    def missing(self) -> list[str]:
        return [m for m in self.needs if importlib.util.find_spec(m) is None]

    def skip_reason(self) -> str | None:
        """Why this block does not run here, or None if it runs."""
        if self.kind is None:
            return None
        if self.not_run is not None:
            return f"{self.where}: not run: {self.not_run}"
        missing = self.missing()
        if missing:
            return f"{self.where}: needs {', '.join(missing)} (not installed)"
        return None

    def runnable_code(self) -> str:
        """The block's code as rendered (snippets included), ``cheaper`` replacements applied."""
        code = "".join(
            (ROOT / m.group(1)).read_text(encoding="utf-8") if (m := _SNIPPET.match(line)) else line
            for line in self.code.splitlines(keepends=True)
        )
        for old, new in self.cheaper:
            if old not in code:
                raise ValueError(f"{self.where}: cheaper {old!r} does not occur in the block")
            code = code.replace(old, new)
        return code


def parse_marker(text: str, block: Block) -> None:
    """Apply one ``docs-test:`` directive to ``block`` (ValueError if malformed)."""
    words = shlex.split(text)
    if not words:
        raise ValueError(f"{block.where}: empty docs-test marker")
    verb, args = words[0], words[1:]
    if verb == "cheaper" and len(args) == 2:
        block.cheaper.append((args[0], args[1]))
    elif verb == "needs" and args:
        block.needs.extend(args)
    elif verb == "not-run" and len(args) == 1 and args[0].strip():
        block.not_run = args[0]
    else:
        raise ValueError(f"{block.where}: cannot read marker 'docs-test: {text}'")


def extract_blocks(page: Path, text: str | None = None) -> list[Block]:
    """The fenced code blocks of a Markdown page, in order, with their markers."""
    lines = (page.read_text(encoding="utf-8") if text is None else text).splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence, lang = len(m.group(1)), m.group(2), m.group(3).lower()
        body: list[str] = []
        j = i + 1
        while j < len(lines) and not (
            lines[j].strip().startswith(fence[0] * len(fence))
            and set(lines[j].strip()) == {fence[0]}
        ):
            body.append(lines[j][indent:] if lines[j][:indent].strip() == "" else lines[j])
            j += 1
        if j == len(lines):
            raise ValueError(f"{page.name}:{i + 1}: unclosed code fence")
        block = Block(page, i + 1, lang, "\n".join(body) + "\n")
        k = i - 1
        while k >= 0 and not lines[k].strip():
            k -= 1
        markers: list[str] = []
        while k >= 0 and (mk := _MARKER.match(lines[k])):
            markers.insert(0, mk.group(1))
            k -= 1
        for marker in markers:
            parse_marker(marker, block)
        blocks.append(block)
        i = j + 1
    return blocks


def _shell_script(block: Block) -> tuple[str, list[str]]:
    """The block's script without the excepted ``make`` lines, and those lines."""
    kept, excepted = [], []
    for line in block.runnable_code().splitlines():
        command = line.split("#", 1)[0].strip()
        if command in EXCEPTED_MAKE:
            excepted.append(command)
        else:
            kept.append(line)
    return "\n".join(kept) + "\n", excepted


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env["MPLBACKEND"] = "Agg"
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def run_shell(block: Block, cwd: Path) -> None:
    script, _ = _shell_script(block)
    if not script.strip():
        return
    proc = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", script],
        cwd=cwd,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    if proc.returncode != 0:
        raise AssertionError(
            f"{block.where}: shell block exited {proc.returncode}\n--- script\n{script}"
            f"--- stdout\n{proc.stdout[-3000:]}\n--- stderr\n{proc.stderr[-3000:]}"
        )


def run_python(block: Block, namespace: dict[str, object]) -> None:
    # padded so that tracebacks point at the page's own line numbers
    source = "\n" * block.line + block.runnable_code()
    exec(compile(source, str(block.page), "exec"), namespace)


def _all_blocks() -> list[Block]:
    return [b for page in PAGES for b in extract_blocks(page)]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_page_runs(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each runnable block of the page, in order, in one namespace and one folder."""
    import matplotlib

    matplotlib.use("Agg")
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    if sys.prefix != sys.base_prefix:  # pages may say .venv/bin/python, as in a clone
        (tmp_path / ".venv").symlink_to(sys.prefix)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    namespace: dict[str, object] = {"__name__": "__docs__"}
    import matplotlib.pyplot as plt

    try:
        for block in extract_blocks(page):
            if block.kind is None or block.skip_reason() is not None:
                continue
            if block.kind == "python":
                run_python(block, namespace)
            else:
                run_shell(block, tmp_path)
    finally:
        plt.close("all")


_NOT_RUN = [b for b in _all_blocks() if b.skip_reason() is not None]


@pytest.mark.parametrize("block", _NOT_RUN, ids=lambda b: b.where)
def test_block_not_run(block: Block) -> None:
    """Blocks that cannot run here are reported as skipped with their reason."""
    pytest.skip(block.skip_reason())


def test_every_fence_is_tagged() -> None:
    """Every fence says what it is: code to run (python, sh/bash) or text."""
    bad = [
        f"{b.where}: '{b.lang or '(none)'}'"
        for b in _all_blocks()
        if b.lang not in RUN_LANGS and b.lang not in TEXT_LANGS
    ]
    assert not bad, "untagged or unknown fence languages (use python, sh, bash or text):\n" + (
        "\n".join(bad)
    )


def test_markers_apply() -> None:
    """Every ``cheaper`` replacement finds its text; markers are not put on text blocks."""
    for block in _all_blocks():
        if block.cheaper or block.needs or block.not_run:
            assert block.kind is not None, f"{block.where}: docs-test marker on a text block"
        block.runnable_code()  # raises if OLD is not in the block


def test_make_lines_are_the_only_exceptions() -> None:
    """Only ``make demo`` / ``make test`` lines are left out; the README opens with both."""
    readme = extract_blocks(ROOT / "README.md")
    assert readme[0].kind == "shell"
    assert _shell_script(readme[0]) == ("\n", ["make demo", "make test"])
    for block in _all_blocks():
        if block.kind == "shell":
            kept, _ = _shell_script(block)
            for line in kept.splitlines():
                assert not line.strip().startswith("make "), f"{block.where}: {line!r} would run"


SAMPLE = """\
# A page

<details markdown="1"><summary>Set-up</summary>

```python
x = 2
```

</details>

<!-- docs-test: cheaper "x * 100" "x * 3" -->
```python
y = x * 100
```

<!-- docs-test: not-run "needs a cluster" -->
```sh
srun idgrad dataset
```

```
a listing
```
"""


def test_extract_blocks_reads_details_markers_and_order(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(SAMPLE)
    blocks = extract_blocks(page)
    assert [(b.line, b.lang) for b in blocks] == [
        (5, "python"),
        (12, "python"),
        (17, "sh"),
        (21, ""),
    ]
    assert blocks[1].cheaper == [("x * 100", "x * 3")]
    assert blocks[2].not_run == "needs a cluster"
    namespace: dict[str, object] = {}
    for b in blocks[:2]:
        exec(b.runnable_code(), namespace)
    assert namespace["y"] == 6


def test_bad_markers_and_fences_are_errors(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text('<!-- docs-test: sometimes "x" -->\n```python\nx = 1\n```\n')
    with pytest.raises(ValueError, match="cannot read marker"):
        extract_blocks(page)
    page.write_text("```python\nx = 1\n")
    with pytest.raises(ValueError, match="unclosed code fence"):
        extract_blocks(page)
    page.write_text('<!-- docs-test: cheaper "zzz" "y" -->\n```python\nx = 1\n```\n')
    (block,) = extract_blocks(page)
    with pytest.raises(ValueError, match="does not occur"):
        block.runnable_code()


def _docstring_extension():
    """scripts/griffe_docstrings.py, which ``make docs`` runs (needs the docs extra)."""
    pytest.importorskip("griffe")
    spec = importlib.util.spec_from_file_location(
        "griffe_docstrings", ROOT / "scripts" / "griffe_docstrings.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_site_docstring_rewrites() -> None:
    ext = _docstring_extension()
    text = (
        "Sum.\n\nArgs:\n    forward_func, inputs,\n"
        "    target: as in :func:`~idgrad.methods.ig.x`.\n        More.\n"
        "    n_steps: points; see :class:`torch.nn.Module` and :math:`\\rho`.\n\n"
        "Example:\n    >>> 1\n    1\n"
    )
    assert ext.adapt(text).splitlines() == [
        "Sum.",
        "",
        "Args:",
        "    forward_func: as in [`x`][idgrad.methods.ig.x].",
        "        More.",
        "    inputs: as in [`x`][idgrad.methods.ig.x].",
        "        More.",
        "    target: as in [`x`][idgrad.methods.ig.x].",
        "        More.",
        "    n_steps: points; see `torch.nn.Module` and `\\rho`.",
        "",
        "Examples:",
        "    >>> 1",
        "    1",
    ]
    lines = ["x = 1", "#: The rules.", "#: Two lines.", "RULES = ()"]
    assert ext.comment_docstring(lines, 4) == "The rules.\nTwo lines."
    assert ext.comment_docstring(lines, 1) is None


# Applications, not API: the command line and the demo have their --help and docs/demo.md.
NOT_IN_API_REFERENCE = ("idgrad.cli", "idgrad.demo")


def test_every_module_has_a_place_in_the_api_reference() -> None:
    """Each public idgrad module is rendered by a ``::: module`` line of docs/api/*.md."""
    import pkgutil

    import idgrad

    rendered = {
        line.split(":::", 1)[1].strip()
        for page in (ROOT / "docs" / "api").glob("*.md")
        for line in page.read_text(encoding="utf-8").splitlines()
        if line.startswith(":::")
    }
    modules = [
        m.name
        for m in pkgutil.walk_packages(idgrad.__path__, "idgrad.")
        if not any(part.startswith("_") for part in m.name.split("."))
        and not m.name.startswith(NOT_IN_API_REFERENCE)
    ]
    missing = [m for m in modules if m not in rendered]
    assert modules and not missing, f"add to a page of docs/api/: {missing}"


_AUTOREF = re.compile(r"\[[^\]\n]+\]\[[\w.]+\]")
_API_LINK = re.compile(r"\]\((api/[\w-]+\.md)#([\w.]+)\)")


def test_links_to_the_api_render_everywhere_and_name_real_objects() -> None:
    """No ``[text][idgrad.x]`` (mkdocs-only syntax, raw brackets elsewhere); each
    ``(api/PAGE.md#module.name)`` link points at an object that PAGE renders."""
    import importlib

    raw = [
        f"{page.relative_to(ROOT)}: {m.group(0)}"
        for page in PAGES
        for m in _AUTOREF.finditer(page.read_text(encoding="utf-8"))
    ]
    assert not raw, "write [text](api/PAGE.md#module.name) instead of:\n" + "\n".join(raw)
    checked = 0
    for page in PAGES:
        for m in _API_LINK.finditer(page.read_text(encoding="utf-8")):
            api, anchor = ROOT / "docs" / m.group(1), m.group(2)
            rendered = {
                line[3:].strip()
                for line in api.read_text(encoding="utf-8").splitlines()
                if line.startswith(":::")
            }
            module, name = anchor.rsplit(".", 1)
            assert module in rendered, f"{page.name}: {m.group(1)} does not render {module}"
            mod = importlib.import_module(module)
            assert hasattr(mod, name) and name in getattr(mod, "__all__", [name]), anchor
            checked += 1
    assert checked >= 18
