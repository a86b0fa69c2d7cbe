"""Writing output files without replacing what was not ours to replace.

The command line (``idgrad explain``, ``idgrad dataset``) and the demo write files
whose names a user chose or that are derived from a name the user chose. Three rules
hold for every such file:

* **an input is never replaced**: an output that is the same file as one of the run's
  inputs (the same path, a link to it, or a name that resolves to it) is refused,
  with or without ``overwrite``;
* **an existing file is replaced only when asked** (``overwrite=True``, the command
  line's ``--overwrite``), or, for a folder of outputs kept by
  :class:`OutputFolder`, when an earlier run wrote it and nobody changed it since;
* **where an output goes is checked before any work**: :func:`check_writable`
  creates (and removes) a file in the deepest folder that exists, so a read-only
  mount, a missing permission or a pseudo file system (``/proc``) is found by trying,
  as root too, before the model is even loaded.

Files are written to a temporary name in the same folder and moved into place in one
step (:func:`write_file`), so an interrupted run leaves no half-written output, and a
new file never replaces one that appeared while the run worked.

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> with tempfile.TemporaryDirectory() as d:
    ...     out = Path(d, "a.txt")
    ...     check_output_file(out, overwrite=False)
    ...     _ = write_file(out, lambda f: f.write(b"one"), overwrite=False)
    ...     try:
    ...         _ = write_file(out, lambda f: f.write(b"two"), overwrite=False)
    ...     except OutputError as err:
    ...         print(str(err).split("; ")[-1])
    ...     out.read_bytes()
    pass overwrite=True to replace it
    b'one'
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import IO, Any

__all__ = [
    "OutputError",
    "OutputFolder",
    "check_not_input",
    "check_output_file",
    "check_writable",
    "same_file",
    "write_file",
]


class OutputError(ValueError):
    """An output that may not or cannot be written; the message says which and why."""


def _deepest_existing(path: Path) -> Path:
    existing = path
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    return existing


def _reason(err: OSError) -> str:
    name = errno.errorcode.get(err.errno or 0, "")
    text = err.strerror or str(err)
    return f"{text} ({name})" if name else text


def check_writable(folder: str | os.PathLike[str], what: str) -> None:
    """Refuse a folder (existing or to be made) in which no file can be created.

    Tries: a uniquely named empty file is created and removed in ``folder``, or in
    its deepest existing parent when ``folder`` does not exist yet (nothing else is
    created). ``what`` names the output in the message (e.g. ``"--out attr/"``).

    Raises:
        OutputError: a file stands where a folder is needed, or creating a file failed
            (read-only file system, permission, a pseudo file system such as ``/proc``).
    """
    existing = _deepest_existing(Path(folder))
    if not existing.is_dir():
        raise OutputError(f"{what}: {existing} is a file, not a folder")
    probe = existing / f".idgrad-write-check.{os.getpid()}.tmp"
    try:
        fd = os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except OSError as err:
        raise OutputError(f"{what}: cannot create files in {existing}: {_reason(err)}") from None
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(probe)


def same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Whether two paths name the same existing file (links and ``..`` resolved)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return Path(a).resolve() == Path(b).resolve()


def check_not_input(
    path: str | os.PathLike[str], inputs: Iterable[str | os.PathLike[str]], what: str
) -> None:
    """Refuse an output that is one of the run's input files.

    Raises:
        OutputError: naming the input it would replace (``overwrite`` does not lift this).
    """
    for given in inputs:
        if Path(given).exists() and same_file(path, given):
            raise OutputError(
                f"{what} {path} is the input {given}: writing it would destroy the input; "
                "choose another output name"
            )


def check_output_file(
    path: str | os.PathLike[str],
    *,
    overwrite: bool,
    inputs: Iterable[str | os.PathLike[str]] = (),
    what: str = "output",
    hint: str = "pass overwrite=True to replace it",
) -> None:
    """Refuse, before any work, an output file that may not or cannot be written.

    Args:
        path: the file to be written.
        overwrite: whether an existing file (not an input) may be replaced.
        inputs: the run's input files; ``path`` may never be one of them.
        what: how the message names the output (``"--out"``).
        hint: how the message says to allow replacing an existing file.

    Raises:
        OutputError: ``path`` is an input, a folder, an existing file without
            ``overwrite``, or in a folder where no file can be created.
    """
    path = Path(path)
    check_not_input(path, inputs, what)
    if path.is_dir():
        raise OutputError(f"{what} {path} is a folder; give a file name")
    if (path.exists() or path.is_symlink()) and not overwrite:
        raise OutputError(f"{what} {path} exists; {hint}")
    check_writable(path.parent, f"{what} {path}")


def write_file(
    path: str | os.PathLike[str],
    write: Callable[[IO[bytes]], Any],
    *,
    overwrite: bool,
    hint: str = "pass overwrite=True to replace it",
) -> Path:
    """Write ``path`` through ``write(file)``, all at once or not at all.

    The bytes go to a temporary file beside ``path``, are flushed to disk, and the file
    is then moved into place: with ``overwrite`` by a rename that replaces what is there
    (a link is replaced, not written through), without it by a hard link that fails if
    ``path`` appeared meanwhile. On any error the temporary file is removed.

    Raises:
        OutputError: ``path`` exists and ``overwrite`` is False, or the write failed
            (the OS's reason in the message: a full disk, a read-only file system).
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            _link_new(tmp, path, hint)
    except OSError as err:
        raise OutputError(f"cannot write {path}: {_reason(err)}") from None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    return path


def _link_new(tmp: Path, path: Path, hint: str) -> None:
    """Move ``tmp`` to ``path`` only if ``path`` does not exist (atomically where possible)."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise OutputError(f"{path} exists; {hint}") from None
    except OSError as err:
        if err.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
            raise
        # a file system without hard links: check, then rename (a narrow race remains)
        if path.exists() or path.is_symlink():
            raise OutputError(f"{path} exists; {hint}") from None
        os.replace(tmp, path)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class OutputFolder:
    """A folder of outputs that remembers which files it wrote, so a rerun may replace them.

    The names written and their SHA-256 are kept in a small JSON file in the folder
    (``record``). A later run may replace a file that an earlier run wrote and that
    nobody changed since (same name, same bytes, not a link); any other existing file
    with a name the run writes is refused unless ``overwrite`` is given.

    Args:
        folder: the output folder (created by :meth:`write` when missing).
        record: the name of the JSON file that lists what was written.
        overwrite: replace existing files that the record does not vouch for.
        what: how messages name the folder (``"--out idgrad-demo"``).
        hint: how messages say to allow replacing files.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as d:
        ...     first = OutputFolder(d, ".demo.json", overwrite=False)
        ...     _ = first.write("a.txt", lambda f: f.write(b"1"))
        ...     again = OutputFolder(d, ".demo.json", overwrite=False)
        ...     again.check(["a.txt"])  # written by a run before, unchanged: may be replaced
        ...     _ = Path(d, "b.txt").write_bytes(b"mine")
        ...     try:
        ...         again.check(["a.txt", "b.txt"])
        ...     except OutputError as err:
        ...         print(str(err).split(": ")[1].split(" (")[0])
        b.txt exists and was not written by an earlier run
    """

    def __init__(
        self,
        folder: str | os.PathLike[str],
        record: str,
        *,
        overwrite: bool,
        what: str = "output folder",
        hint: str = "pass overwrite=True to replace them",
    ) -> None:
        self.folder = Path(folder)
        self.record = record
        self.overwrite = overwrite
        self.what = what
        self.hint = hint
        self._written: dict[str, str] = self._read_record()

    def _read_record(self) -> dict[str, str]:
        path = self.folder / self.record
        if path.is_symlink() or not path.is_file():
            return {}
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        files = data.get("files") if isinstance(data, Mapping) else None
        if not isinstance(files, Mapping):
            return {}
        return {str(k): str(v) for k, v in files.items()}

    def _ours(self, name: str) -> bool:
        path = self.folder / name
        return (
            name in self._written
            and not path.is_symlink()
            and path.is_file()
            and _sha256(path) == self._written[name]
        )

    def check(self, names: Iterable[str], inputs: Iterable[str | os.PathLike[str]] = ()) -> None:
        """Refuse, before any work, to write ``names`` where that would lose a file.

        Raises:
            OutputError: the folder cannot hold files, a name is an input, or names
                exist that no earlier run of this kind wrote (unless ``overwrite``).
        """
        if self.folder.exists() and not self.folder.is_dir():
            raise OutputError(f"{self.what}: {self.folder} is a file, not a folder")
        names = [*names, self.record]
        for name in names:
            check_not_input(self.folder / name, inputs, self.what)
        if not self.overwrite:
            foreign = [
                name
                for name in names
                if name != self.record
                and ((self.folder / name).exists() or (self.folder / name).is_symlink())
                and not self._ours(name)
            ]
            if foreign:
                shown = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
                raise OutputError(
                    f"{self.what}: {shown} exist{'s' if len(foreign) == 1 else ''} and "
                    f"{'was' if len(foreign) == 1 else 'were'} not written by an earlier run "
                    f"(or changed since); {self.hint}, or choose another folder"
                )
        check_writable(self.folder, self.what)

    def write(self, name: str, write: Callable[[IO[bytes]], Any]) -> Path:
        """Write ``folder/name`` through ``write(file)`` and record it (see :func:`write_file`)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / name
        allowed = self.overwrite or self._ours(name)
        write_file(path, write, overwrite=allowed, hint=self.hint)
        self._written[name] = _sha256(path)
        record = json.dumps({"files": self._written}, indent=1, sort_keys=True).encode()
        write_file(self.folder / self.record, lambda f: f.write(record), overwrite=True)
        return path
