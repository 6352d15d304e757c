"""Checks on downloaded bytes, all without trusting them: .npy headers, hashes, size bounds.

Nothing here touches the network or the cache layout; fetch.py decides what to do with
a :class:`Check`. ``.npy`` files are judged from their header alone
(``numpy.lib.format``), never loaded: an object array would be unpickled on load.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from ..errors import InputError
from .manifest import Member
from ..fileio import sha256_file

OK, UNPINNED, MISSING, MISMATCH = "ok", "unpinned", "missing", "mismatch"

# Zip bombs and hostile servers: nothing may unpack or download to more than its bound.
NPY_HEADER_SLACK = 64 * 1024  # a .npy header is padded to 64 bytes; numpy reads at most 10,000 header bytes
MAX_MEMBER_BYTES = 2 << 30  # 2 GiB for a feature member of unknown size (the largest paper file is ~250 MB)
MAX_SIDE_BYTES = 16 << 20  # 16 MiB for a non-feature member of unknown size (the folder's .txt)
MAX_ARCHIVE_BYTES = 8 << 30  # 8 GiB for one folder (12 files of at most ~250 MB each)
MAX_ROWS = 1_000_000  # rows a feature file may claim (the largest published one has about 23,000)
SHOWN = 5  # names an error line lists before it says "and N more"


@dataclass(frozen=True)
class NpyHeader:
    shape: tuple[int, ...]
    dtype: np.dtype
    fortran_order: bool
    data_offset: int  # bytes before the array data


@dataclass(frozen=True)
class Check:
    """The verdict on one file against its manifest member."""

    path: Path
    status: str  # OK | UNPINNED | MISSING | MISMATCH
    detail: str = ""  # for MISMATCH: "<field>: expected X, found Y"
    sha256: str | None = None  # as found on disk (None when missing or rejected early)


NPY_MAGIC = b"\x93NUMPY"  # the first bytes of every .npy file (numpy.lib.format)
_PICKLE = b"\x80"  # protocol 2+ pickles start with PROTO (0x80) and the protocol number


def describe_head(head: bytes) -> str:
    """What a file holds, in words, from its first bytes (64 are plenty): for the error that
    says a file given as a ``.npy`` array is something else (``"text: 'root:x:0:0:root'"``,
    ``"an empty file"``, ``"a zip archive (an .npz?)"``), not numpy's own guess ("pickled data")."""
    if not head:
        return "an empty file"
    if head.startswith(NPY_MAGIC):
        return "a .npy file"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "a zip archive (an .npz?)"
    if head[:1] == _PICKLE and len(head) > 1 and head[1] <= 5:
        return "a Python pickle (refused: loading one runs code)"
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        return "an HDF5 file"
    if head.startswith(b"\x1f\x8b"):
        return "gzip-compressed data"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:  # a character cut at the end of ``head`` is still text
        text = head[: exc.start].decode("utf-8") if exc.start >= len(head) - 3 else ""
    if text.strip() and all(c.isprintable() or c in "\t\r\n" for c in text):
        return f"text: {text.strip().splitlines()[0][:40]!r}"
    return f"binary data starting with {head[:8].hex(' ')} (a .npy file starts with {NPY_MAGIC!r})"


def read_npy_header(path: str | os.PathLike) -> NpyHeader:
    """Parse the header of a ``.npy`` file without reading its data.

    Raises :class:`InputError` if the file is not a version 1/2 ``.npy`` file; its message
    says what the file is instead (:func:`describe_head`) or that the .npy header is damaged.
    """
    with open(path, "rb") as f:
        return parse_npy_header(f)


def parse_npy_header(f: BinaryIO) -> NpyHeader:
    """:func:`read_npy_header` from an open binary stream positioned at its start."""
    from numpy.lib import format as npformat

    start = f.tell() if f.seekable() else 0
    try:
        version = npformat.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = npformat.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, fortran, dtype = npformat.read_array_header_2_0(f)
        else:
            raise InputError(f"a .npy file of unsupported format version {version}")
    except (ValueError, TypeError, SyntaxError) as exc:  # bad magic, bad header dict, header too long
        head = b""
        if f.seekable():  # say what the file is (text, a zip, ...), not only that it is no .npy
            f.seek(start)
            head = f.read(64)
        if head.startswith(NPY_MAGIC) or not f.seekable():
            raise InputError(f"a damaged .npy header ({exc})") from None
        raise InputError(describe_head(head)) from None
    return NpyHeader(tuple(int(n) for n in shape), np.dtype(dtype), bool(fortran), f.tell() - start)


def implied_size(h: NpyHeader) -> int:
    """Bytes of a .npy file with this header: exact (Python integers never wrap)."""
    return h.data_offset + math.prod(h.shape) * h.dtype.itemsize


def header_problem(h: NpyHeader, member: Member) -> str | None:
    """Why a .npy header is not the (rows, dim) float32 array ``member`` describes, or None."""
    if h.dtype.hasobject:
        # np.load(allow_pickle=True) would run arbitrary code from this file.
        return f"dtype: expected {member.dtype}, found {h.dtype} (Python objects, a pickle); refusing to load it"
    if h.dtype != np.dtype(member.dtype).newbyteorder(h.dtype.byteorder):
        return f"dtype: expected {member.dtype}, found {h.dtype}"
    if len(h.shape) != 2:
        return f"shape: expected (rows, {member.dim}), found {h.shape}"
    if h.shape[1] != member.dim:
        return f"dim: expected {member.dim}, found {h.shape[1]} (shape {h.shape})"
    if member.rows is not None and h.shape[0] != member.rows:
        return f"rows: expected {member.rows}, found {h.shape[0]} (shape {h.shape})"
    if not 0 < h.shape[0] <= MAX_ROWS:
        return f"rows: expected 1 to {MAX_ROWS} (the largest published file has about 23,000), found {h.shape[0]}"
    return None


def array_problem(path: str | os.PathLike, member: Member) -> str | None:
    """Why ``path`` is not the (rows, dim) float32 array ``member`` describes, or None."""
    try:
        h = read_npy_header(path)
    except InputError as exc:
        return f"format: expected a .npy array file, found {exc}"
    problem = header_problem(h, member)
    if problem:
        return problem
    size = os.path.getsize(path)
    expected = implied_size(h)
    if size != expected:
        return f"size: expected {expected} bytes for shape {h.shape}, found {size} (truncated or padded)"
    return None


def check_member(path: str | os.PathLike, member: Member) -> Check:
    """Verify one file: size, .npy header (feature members), then sha256 if pinned."""
    path = Path(path)
    if not path.is_file() or path.is_symlink():
        return Check(path, MISSING)
    size = path.stat().st_size
    if member.size is not None and size != member.size:
        return Check(path, MISMATCH, f"size: expected {member.size} bytes, found {size}")
    if member.is_feature:
        problem = array_problem(path, member)
        if problem:
            return Check(path, MISMATCH, problem)
    digest = sha256_file(path)
    if member.sha256 is None:
        return Check(path, UNPINNED, "no sha256 pinned in the manifest", digest)
    if digest != member.sha256:
        return Check(path, MISMATCH, f"sha256: expected {member.sha256}, found {digest}", digest)
    return Check(path, OK, "", digest)


def dropbox_direct(url: str) -> str:
    """A Dropbox share link with ``dl=1`` (download; a folder comes as a zip) instead of ``dl=0``."""
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "dl"]
    return urlunsplit(parts._replace(query=urlencode(query + [("dl", "1")])))


def mirror_url(base: str, artifact_id: str, name: str) -> str:
    """``<base>/<artifact id>/<name>``, URL-quoted: a mirror has the cache's layout."""
    from urllib.parse import quote

    return f"{base.rstrip('/')}/{quote(artifact_id)}/{quote(name)}"




def member_size_bound(member: Member) -> tuple[int, str]:
    """The most bytes ``member`` may unpack or download to, and why: its pinned size, else
    rows x dim x 4 bytes + header slack when the rows are known, else :data:`MAX_MEMBER_BYTES`
    for a feature member and :data:`MAX_SIDE_BYTES` for another file."""
    if member.size is not None:
        return member.size, "its pinned size"
    if member.is_feature and member.rows is not None:
        itemsize = np.dtype(member.dtype).itemsize
        return member.rows * member.dim * itemsize + NPY_HEADER_SLACK, f"rows x dim x {itemsize} bytes + header"
    if member.is_feature:
        return MAX_MEMBER_BYTES, "the limit for members of unknown size"
    return MAX_SIDE_BYTES, "the limit for non-feature members of unknown size"
