"""Zip files checked before torch reads them: what their records declare and what they inflate to.

TorchScript files, ``torch.save`` files and ``.pt2`` archives are zip files, and torch's zip
reader allocates, for each record, the size the zip directory declares.
:func:`check_zip_sizes` bounds that by ``FileLimits.zip_inflation``
(:class:`~idgrad.files.limits.FileLimits`) and checks that every record inflates to exactly
what it declares, before torch reads anything.
"""

from __future__ import annotations

import os
import struct
import zipfile
import zlib
from typing import IO

from idgrad.files.errors import LoadError, UnsafeFileError, first_line
from idgrad.files.limits import FileLimits, over_limit

__all__ = ["check_zip_sizes", "zip_directory"]


def zip_directory(source: IO[bytes], name: str) -> list[zipfile.ZipInfo] | None:
    """The records of a zip file as its central directory lists them; None if not a zip.

    Nothing is inflated. A file that starts like a zip but whose directory cannot be read
    is refused (LoadError): another reader (torch's) might read it differently.
    """
    source.seek(0)
    magic = source.read(4)
    source.seek(0)
    if magic != b"PK\x03\x04":
        return None
    try:
        with zipfile.ZipFile(source) as z:
            return z.infolist()
    except Exception as err:  # noqa: BLE001 - a crafted directory raises many types
        raise LoadError(f"{name} is a damaged zip file: {first_line(err)}") from None
    finally:
        source.seek(0)


def check_zip_sizes(
    source: str | os.PathLike[str] | IO[bytes], name: str, limits: FileLimits | None = None
) -> None:
    """Refuse a zip whose records would cost more to inflate than they may.

    torch's zip reader allocates, for each record, the size the zip directory declares,
    and inflates its whole stream. So, before torch reads anything: the declared sizes
    together may be at most ``limits.zip_inflation`` times the file's size, and every
    compressed record is inflated once here, in chunks and with a cap, to check that it
    inflates to exactly its declared size (a header that declares 5 KB for a stream of
    300 MB is refused after 5 KB). A file that is not a zip passes (its reader says what
    it is).

    Args:
        source: a path or a binary file object (read from its start, left at its start).
        name: the file, for messages.
        limits: the limits (default: :class:`~idgrad.files.limits.FileLimits`' defaults).

    Raises:
        UnsafeFileError: it declares more than the limit allows, or a record inflates to
            more than it declares.
        LoadError: a damaged zip (unreadable directory, a stream that ends early or fails
            its checksum, a compression torch does not read).

    Example:
        >>> import io, zipfile
        >>> buf = io.BytesIO()
        >>> with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        ...     z.writestr("a/zeros", bytes(10**6))
        >>> len(buf.getvalue()) < 2000
        True
        >>> check_zip_sizes(buf, "zeros.zip")
        Traceback (most recent call last):
        ...
        idgrad.files.errors.UnsafeFileError: zeros.zip declares 1000000 bytes once inflated, ...
    """
    limits = FileLimits() if limits is None else limits
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as fh:
            check_zip_sizes(fh, name, limits)
        return
    infos = zip_directory(source, name)
    if infos is None:
        return
    size = source.seek(0, os.SEEK_END)
    total = sum(info.file_size for info in infos)
    if total > limits.zip_inflation * max(size, 1):
        raise UnsafeFileError(
            f"{name} declares {total} bytes once inflated, {total / max(size, 1):.0f} times its "
            f"{size} bytes on disk, more than {over_limit('zip_inflation', limits)}"
        )
    try:
        for info in infos:
            _check_stream(source, info, name)
    finally:
        source.seek(0)


def _check_stream(source: IO[bytes], info: zipfile.ZipInfo, name: str) -> None:
    """One record's stream inflates to exactly its declared size (read with a cap)."""
    if info.compress_type == zipfile.ZIP_STORED:
        if info.compress_size != info.file_size:
            raise LoadError(
                f"{name} is a damaged zip file: {info.filename} is stored with "
                f"{info.compress_size} bytes but declares {info.file_size}"
            )
        return
    if info.compress_type != zipfile.ZIP_DEFLATED:
        raise LoadError(
            f"{name}: {info.filename} is compressed with zip method {info.compress_type}, "
            "which torch does not read (only stored and deflated records)"
        )
    source.seek(info.header_offset)
    local = source.read(30)
    if len(local) < 30 or local[:4] != b"PK\x03\x04":
        raise LoadError(f"{name} is a damaged zip file: no local header for {info.filename}")
    name_len, extra_len = struct.unpack("<HH", local[26:30])
    source.seek(info.header_offset + 30 + name_len + extra_len)
    stream = zlib.decompressobj(-zlib.MAX_WBITS)
    left, produced, crc = info.compress_size, 0, 0
    pending = b""
    while not stream.eof:
        if not pending:
            if left <= 0:
                break
            pending = source.read(min(left, 2**20))
            left -= len(pending)
            if not pending:
                break
        try:
            out = stream.decompress(pending, info.file_size - produced + 1)
        except zlib.error as err:
            raise LoadError(f"{name} is a damaged zip file: {info.filename}: {err}") from None
        pending = stream.unconsumed_tail
        produced += len(out)
        crc = zlib.crc32(out, crc)
        if produced > info.file_size:
            raise UnsafeFileError(
                f"{name}: {info.filename} inflates to more than the {info.file_size} bytes its "
                "zip directory declares (a header that hides what the record costs)"
            )
    if not stream.eof or produced != info.file_size or crc != info.CRC:
        raise LoadError(
            f"{name} is a damaged zip file: {info.filename} does not inflate to the "
            f"{info.file_size} bytes (and checksum) its zip directory declares"
        )
