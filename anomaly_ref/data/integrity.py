"""Checks on downloaded bytes, all without trusting them: .npy headers, hashes, zip entries.

Nothing here touches the network or the cache layout; fetch.py decides what to do with
a :class:`Check`. ``.npy`` files are judged from their header alone
(``numpy.lib.format``), never loaded: an object array would be unpickled on load.
"""

from __future__ import annotations

import os
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Iterable

import numpy as np

from ..errors import FetchError, InputError
from .manifest import Member
from ..fileio import sha256_file

OK, UNPINNED, MISSING, MISMATCH = "ok", "unpinned", "missing", "mismatch"

# Zip bombs: no member may unpack to more than its bound (see member_size_bound).
NPY_HEADER_SLACK = 64 * 1024  # a .npy header is padded to 64 bytes; v1 headers stay below 64 KiB
MAX_MEMBER_BYTES = 2 << 30  # 2 GiB for a member of unknown size (the largest paper file is ~250 MB)


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


def read_npy_header(path: str | os.PathLike) -> NpyHeader:
    """Parse the header of a ``.npy`` file without reading its data.

    Raises :class:`InputError` if the file is not a version 1/2 ``.npy`` file.
    """
    from numpy.lib import format as npformat

    with open(path, "rb") as f:
        try:
            version = npformat.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = npformat.read_array_header_1_0(f)
            elif version == (2, 0):
                shape, fortran, dtype = npformat.read_array_header_2_0(f)
            else:
                raise InputError(f"unsupported .npy format version {version}")
        except ValueError as exc:  # bad magic, bad header dict
            raise InputError(f"not a .npy array file ({exc})") from None
        return NpyHeader(tuple(shape), np.dtype(dtype), bool(fortran), f.tell())


def array_problem(path: str | os.PathLike, member: Member) -> str | None:
    """Why ``path`` is not the (rows, dim) float32 array ``member`` describes, or None."""
    try:
        h = read_npy_header(path)
    except InputError as exc:
        return f"format: expected a .npy array file, found {exc}"
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
    size = os.path.getsize(path)
    expected = h.data_offset + int(np.prod(h.shape)) * h.dtype.itemsize
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
    """The most bytes ``member`` may unpack to, and why: its pinned size, else
    rows x dim x 4 bytes + header slack when the rows are known, else :data:`MAX_MEMBER_BYTES`."""
    if member.size is not None:
        return member.size, "its pinned size"
    if member.is_feature and member.rows is not None:
        itemsize = np.dtype(member.dtype).itemsize
        return member.rows * member.dim * itemsize + NPY_HEADER_SLACK, f"rows x dim x {itemsize} bytes + header"
    return MAX_MEMBER_BYTES, "the limit for members of unknown size"


def _too_big(src: str, name: str, size: int, bound: tuple[int, str]) -> FetchError:
    return FetchError(
        f"{src}: entry {name!r} would unpack to {size} bytes, more than the {bound[0]} allowed ({bound[1]}); "
        "refusing the whole archive (nothing was extracted). The download is not the authors' folder "
        "(a zip bomb?): use --mirror or report it"
    )


def _copy_capped(fin, fout, src: str, name: str, bound: tuple[int, str]) -> None:
    """Copy at most ``bound[0]`` bytes; the declared size was checked, this guards against a lie."""
    written = 0
    while chunk := fin.read(1 << 20):
        written += len(chunk)
        if written > bound[0]:
            raise _too_big(src, name, written, bound)
        fout.write(chunk)


def _unsafe_reason(info: zipfile.ZipInfo) -> str | None:
    """Why a zip entry must not be extracted, or None."""
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        return "is a symbolic link"
    name = info.filename
    if name.startswith("/") or "\\" in name or (len(name) > 1 and name[1] == ":"):
        return "has an absolute or non-POSIX path"
    if ".." in PurePosixPath(name).parts:
        return "climbs out of the folder ('..')"
    return None


def extract_members(zip_path: str | os.PathLike, members: Iterable[Member], out_dir: str | os.PathLike) -> dict[str, Path]:
    """Extract exactly the manifest's ``members`` from a folder zip into ``out_dir``.

    Directory entries (Dropbox adds ``/``) are skipped. Any unsafe entry (``..``,
    absolute path, symlink), any name the manifest does not list, a duplicate or a
    missing member, an entry larger than :func:`member_size_bound`, or a corrupt zip
    raises :class:`FetchError` and extracts nothing further; the caller discards
    ``out_dir``. Files are written under the manifest's names, so an archive name never
    becomes a path. Returns ``{name: path}``.
    """
    bounds = {m.name: member_size_bound(m) for m in members}
    wanted = set(bounds)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    src = Path(zip_path).name
    try:
        with zipfile.ZipFile(zip_path) as zf:
            entries = [i for i in zf.infolist() if not i.is_dir()]
            for info in entries:  # judge every entry before writing any byte
                reason = _unsafe_reason(info)
                if reason:
                    raise FetchError(
                        f"{src}: entry {info.filename!r} {reason}; refusing the whole archive "
                        "(nothing was extracted). The download is not the authors' folder: use --mirror "
                        "or report it"
                    )
            names = [i.filename for i in entries]
            extra = sorted(set(names) - wanted)
            missing = sorted(wanted - set(names))
            dupes = sorted({n for n in names if names.count(n) > 1})
            if extra or missing or dupes:
                raise FetchError(
                    f"{src}: members differ from the manifest: missing {missing}, not listed {extra}, "
                    f"duplicated {dupes}; nothing was extracted. If the authors changed the folder, "
                    "update data_manifest.json; otherwise retry or use --mirror"
                )
            for info in entries:  # declared sizes, before writing any byte
                if info.file_size > bounds[info.filename][0]:
                    raise _too_big(src, info.filename, info.file_size, bounds[info.filename])
            out: dict[str, Path] = {}
            for info in entries:
                target = out_dir / info.filename  # a manifest name: plain, validated by the schema
                with zf.open(info) as fin, open(target, "xb") as fout:
                    _copy_capped(fin, fout, src, info.filename, bounds[info.filename])
                out[info.filename] = target
            return out
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError) as exc:
        with open(zip_path, "rb") as f:
            head = f.read(16)
        raise FetchError(
            f"{src}: not a readable zip ({exc}; first bytes {head!r}); nothing was extracted. "
            "The download was truncated or the server sent something else (an HTML error page?): "
            "retry, or use --mirror"
        ) from None
