"""Unpack an official frame archive into a tree, trusting none of it.

Every entry is judged before anything of it is written: a link (symbolic or hard), a
device or FIFO, an absolute path, a ``..`` component or an encrypted zip entry refuses the
whole archive; tar entries also pass :func:`tarfile.data_filter` (Python's ``data``
extraction filter). Only entries a :class:`~anomaly_ref.data.layouts.Layout` rule keeps are
written, under the rule's tree path, each bounded by its rule's size and all of them by
:data:`~anomaly_ref.data.layouts.MAX_TREE_BYTES`. A truncated gzip or zip, or a file that is
no archive at all, is one :class:`FetchError`. The caller unpacks into a work folder and
discards it on any error, so nothing half-unpacked is ever installed.

Tar archives are read as a stream (``r|*``): a multi-gigabyte ``.tar.gz`` is unpacked in
one pass without seeking.
"""

from __future__ import annotations

import gzip
import lzma
import os
import stat
import tarfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from typing import Callable

from ..errors import FetchError
from .layouts import MAX_ENTRIES, MAX_TREE_BYTES, Layout
from .unpack import CHUNK, ZIP_ERRORS, unsafe_reason, unreadable

TAR_ERRORS = (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile, lzma.LZMAError, OSError, ValueError)


class WriteFailed(FetchError):
    """Our side failed (disk full, permissions) while unpacking: the archive is not to blame."""


def kind_of(name: str) -> str:
    """``"tar"``, ``"zip"`` or ``"file"`` (a member installed as it is, e.g. UMN's video)."""
    lower = name.lower()
    if lower.endswith((".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")):
        return "tar"
    return "zip" if lower.endswith(".zip") else "file"


def _refuse(src: str, entry: str, why: str) -> FetchError:
    return FetchError(
        f"{src}: entry {entry!r} {why}; refusing the whole archive (nothing was installed). It is not the "
        "official archive: fetch it again, use --mirror, or check the file given with --from"
    )


class _Writer:
    """Writes kept entries under ``out``, each bounded, all within one budget; no path twice."""

    def __init__(self, out: Path, layout: Layout, src: str) -> None:
        self.out, self.layout, self.src = out, layout, src
        self.left = MAX_TREE_BYTES
        self.written: dict[str, str] = {}  # tree path -> entry it came from
        self.entries = 0

    def count(self, name: str) -> None:
        self.entries += 1
        if self.entries > MAX_ENTRIES:
            raise _refuse(self.src, name, f"is one entry more than the {MAX_ENTRIES} an archive may list")

    def target(self, name: str, declared: int | None) -> tuple[Path, int] | None:
        hit = self.layout.target(name)
        if hit is None:
            return None
        rel, bound = hit
        if rel in self.written:
            raise _refuse(self.src, name, f"lands on {rel!r} as {self.written[rel]!r} does (a duplicate)")
        if declared is not None and declared > bound:
            raise _refuse(self.src, name, f"declares {declared} bytes, more than the {bound} allowed for such a file")
        self.written[rel] = name
        return self.out / rel, bound

    def copy(self, read: Callable[[int], bytes], path: Path, bound: int, name: str) -> None:
        n = 0
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fout = open(path, "xb")
        except OSError as exc:
            raise self.cannot_write(path, exc) from None
        with fout:
            while chunk := read(CHUNK):
                n += len(chunk)
                self.left -= len(chunk)
                if n > bound:
                    raise _refuse(self.src, name, f"unpacks to more than the {bound} bytes allowed for such a file")
                if self.left < 0:
                    raise _refuse(self.src, name, f"takes the archive past the {MAX_TREE_BYTES} bytes allowed for "
                                                  "one dataset (a zip bomb?)")
                try:
                    fout.write(chunk)
                except OSError as exc:
                    raise self.cannot_write(path, exc) from None

    def cannot_write(self, path: Path, exc: OSError) -> WriteFailed:
        return WriteFailed(f"{self.src}: cannot write {path} while unpacking ({exc.strerror or exc}); nothing was "
                           "installed (a verified archive is kept in the cache). Free space in the cache (--cache / "
                           "$ANOMALY_REF_CACHE) and fetch again")


def _tar_reason(info: tarfile.TarInfo, out: Path) -> str | None:
    if info.issym() or info.islnk():
        return f"is a {'symbolic' if info.issym() else 'hard'} link (to {info.linkname!r})"
    if not (info.isfile() or info.isdir()):
        return "is a device, FIFO or other special file"
    name = info.name
    if name.startswith("/") or "\\" in name:
        return "has an absolute or non-POSIX path"
    if ".." in PurePosixPath(name).parts:
        return "climbs out of the folder ('..')"
    try:
        tarfile.data_filter(info, str(out))  # Python's own judgement, on top of ours
    except tarfile.FilterError as exc:
        return f"is refused by Python's tar 'data' filter ({type(exc).__name__})"
    return None


def unpack_tar(path: Path, layout: Layout, out: Path, src: str) -> list[str]:
    w = _Writer(out, layout, src)
    with unreadable(src, path, TAR_ERRORS, "tar archive"):
        with tarfile.open(path, mode="r|*") as tar:
            for info in tar:
                w.count(info.name)
                reason = _tar_reason(info, out)
                if reason:
                    raise _refuse(src, info.name, reason)
                if not info.isfile():
                    continue
                hit = w.target(info.name[2:] if info.name.startswith("./") else info.name, info.size)
                if hit is None:
                    continue
                fin = tar.extractfile(info)
                w.copy(fin.read, hit[0], hit[1], info.name)
    return sorted(w.written)


def unpack_zip(path: Path, layout: Layout, out: Path, src: str) -> list[str]:
    w = _Writer(out, layout, src)
    with unreadable(src, path, ZIP_ERRORS, "zip archive"):
        zf = zipfile.ZipFile(path)
    with zf, unreadable(src, path, ZIP_ERRORS, "zip archive"):
        infos = zf.infolist()
        plan = []
        for info in infos:  # judge every entry before writing any byte
            w.count(info.filename)
            reason = unsafe_reason(info)
            if reason:
                raise _refuse(src, info.filename, reason)
            kind = stat.S_IFMT(info.external_attr >> 16)
            if kind and kind not in (stat.S_IFREG, stat.S_IFDIR):
                raise _refuse(src, info.filename, "is a device, FIFO or other special file")
            if info.is_dir():
                continue
            hit = w.target(info.filename, info.file_size)
            if hit is not None:
                plan.append((info, hit))
        for info, (target, bound) in plan:
            with zf.open(info) as fin:
                w.copy(fin.read, target, bound, info.filename)
    return sorted(w.written)


def unpack_file(path: Path, name: str, layout: Layout, out: Path, src: str) -> list[str]:
    """A member that is no archive (UMN's video): copied under its own name, if the layout keeps it."""
    w = _Writer(out, layout, src)
    hit = w.target(name, path.stat().st_size)
    if hit is None:
        raise _refuse(src, name, f"is not a file of the {layout.name} layout")
    with open(path, "rb") as fin:
        w.copy(fin.read, hit[0], hit[1], name)
    return sorted(w.written)


def unpack(path: str | os.PathLike, name: str, layout: Layout, out: str | os.PathLike) -> list[str]:
    """Unpack archive ``path`` (published as ``name``) into ``out``; the tree paths written."""
    path, out = Path(path), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    kind = kind_of(name)
    if kind == "tar":
        return unpack_tar(path, layout, out, name)
    if kind == "zip":
        return unpack_zip(path, layout, out, name)
    return unpack_file(path, name, layout, out, name)


def copy_tree(folder: str | os.PathLike, layout: Layout, out: str | os.PathLike) -> list[str]:
    """An archive unpacked by hand (``fetch --from FOLDER``): its kept files copied into ``out``
    under the layout's tree paths, with the checks an archive gets (no links, bounds)."""
    folder, out = Path(folder), Path(out)
    src = str(folder)
    w = _Writer(out, layout, src)
    found = []
    for root, dirs, files in os.walk(folder, followlinks=False):
        for entry in sorted(dirs + files):
            p = Path(root, entry)
            rel = p.relative_to(folder).as_posix()
            w.count(rel)
            if p.is_symlink():
                raise _refuse(src, rel, "is a symbolic link")
            if entry in files:
                if not stat.S_ISREG(p.lstat().st_mode):
                    raise _refuse(src, rel, "is not a regular file")
                found.append((rel, p))
    for rel, p in sorted(found):
        hit = w.target(rel, p.stat().st_size)
        if hit is None:
            continue
        try:
            fd = os.open(p, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError as exc:
            raise FetchError(f"{p}: cannot open ({exc.strerror or exc}); nothing was installed") from None
        with os.fdopen(fd, "rb") as fin:
            w.copy(fin.read, hit[0], hit[1], rel)
    return sorted(w.written)
