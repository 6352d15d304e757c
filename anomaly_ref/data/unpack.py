"""Unpack a feature folder into a work folder, trusting none of it: a downloaded folder
zip or a folder on disk (``fetch --from``) go through the same plan and the same bounded copy.

What a real folder holds besides the manifest's members (the authors' ``.txt``, macOS's
``__MACOSX/`` and ``.DS_Store``) is skipped, never written, and named in one log line; an
unlisted ``.npy``, a missing or duplicated member, an unsafe entry (``..``, absolute path,
symlink, encrypted) or a member larger than its bound refuses the whole source. When every
entry sits under one top-level folder (a folder zip may or may not add one), that folder
(as far as its ``.npy`` files go) is stripped before matching. Files are written under the
manifest's names only.

Bounds: a feature member's ``.npy`` header is read from the stream first and its body may
not exceed the size that header implies (nor the member's own bound); the whole source
may not exceed :data:`integrity.MAX_ARCHIVE_BYTES`.
"""

from __future__ import annotations

import io
import logging
import lzma
import os
import stat
import struct
import zipfile
import zlib
from collections import Counter
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Callable, Iterable, Iterator, Sequence

from . import integrity
from ..errors import FetchError, InputError
from .manifest import Member

log = logging.getLogger(__name__)

CHUNK = 1 << 20
JUNK_DIRS = {"__MACOSX"}  # macOS resource forks: '._name.npy' files that are not arrays
# What zipfile (and zlib, lzma, bz2 under it) raises on malformed input; bz2 raises OSError.
ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError, RuntimeError, ValueError,
              OverflowError, struct.error, zlib.error, lzma.LZMAError, KeyError, IndexError, OSError)


def few(names: Sequence[str]) -> str:
    """At most :data:`integrity.SHOWN` names, then a count: error lines stay short."""
    shown = repr(list(names[:integrity.SHOWN]))
    return shown if len(names) <= integrity.SHOWN else f"{shown} and {len(names) - integrity.SHOWN} more"


def _top_folder(names: Iterable[str]) -> str:
    """``"top/"`` if every ``.npy`` entry (macOS junk aside) lies under one folder ``top``, else
    ``""``. Other files (a README beside the folder) are skipped anyway, so they do not count."""
    tops = set()
    for name in names:
        parts = PurePosixPath(name).parts
        if not name.lower().endswith(".npy") or _is_junk(name):
            continue
        if len(parts) < 2:
            return ""
        tops.add(parts[0])
        if len(tops) > 1:
            return ""
    return f"{tops.pop()}/" if tops else ""


def _is_junk(name: str) -> bool:
    parts = PurePosixPath(name).parts
    return bool(parts) and (parts[0] in JUNK_DIRS or parts[-1].startswith("._"))


def plan(names: Sequence[str], members: Sequence[Member], src: str) -> dict[str, str]:
    """``{member name: entry name}`` for a source whose files are ``names``; one pass, linear.

    Raises :class:`FetchError` for an unlisted ``.npy``, a missing required member or a
    duplicate; logs the skipped entries in one line.
    """
    listed = {m.name for m in members}
    prefix = _top_folder(names)
    chosen: dict[str, str] = {}
    seen: Counter = Counter()
    skipped, unlisted = [], []
    for name in names:
        rel = name[len(prefix):] if prefix and name.startswith(prefix) else name
        if rel in listed:
            seen[rel] += 1
            chosen[rel] = name
        elif _is_junk(name) or not rel.lower().endswith(".npy"):
            skipped.append(name)
        else:
            unlisted.append(name)
    missing = [m.name for m in members if not m.optional and m.name not in chosen]
    dupes = sorted(n for n, k in seen.items() if k > 1)
    if unlisted or missing or dupes:
        raise FetchError(
            f"{src}: members differ from the manifest: missing {few(missing)}, feature files not listed "
            f"{few(sorted(unlisted))}, duplicated {few(dupes)}; nothing was installed. If the authors changed "
            "the folder, update data_manifest.json; otherwise fetch it again"
        )
    if skipped:
        log.info("%s: skipped %d entr%s that are neither manifest members nor feature files (not written): %s",
                 src, len(skipped), "y" if len(skipped) == 1 else "ies", few(skipped))
    return chosen


def _refuse(src: str, name: str, why: str) -> FetchError:
    return FetchError(
        f"{src}: entry {name!r} {why}; refusing the whole archive (nothing was installed). "
        "It is not the authors' folder: fetch it again, use --mirror, or report it"
    )


def _too_big(src: str, name: str, size: int, bound: tuple[int, str]) -> FetchError:
    return _refuse(src, name, f"would unpack to {size} bytes, more than the {bound[0]} allowed ({bound[1]})")


class _Budget:
    """Bytes the whole source may still unpack to."""

    def __init__(self, src: str) -> None:
        self.src, self.left = src, integrity.MAX_ARCHIVE_BYTES

    def spend(self, n: int) -> None:
        self.left -= n
        if self.left < 0:
            raise FetchError(
                f"{self.src}: unpacks to more than the {integrity.MAX_ARCHIVE_BYTES} bytes allowed for one folder; "
                "refusing the whole archive (nothing was installed). It is not the authors' folder (a zip bomb?): "
                "use --mirror or report it"
            )


def _copy_member(read: Callable[[int], bytes], target: Path, src: str, name: str, member: Member,
                 budget: _Budget) -> None:
    """Copy one member through ``read`` into ``target`` (created, never overwritten).

    A feature member's header is read and checked first; its body may not exceed the size
    that header implies. Nothing is written for a member refused on its header.
    """
    bound = integrity.member_size_bound(member)
    head = b""
    if member.is_feature:
        head = read(integrity.NPY_HEADER_SLACK)
        try:
            header = integrity.parse_npy_header(io.BytesIO(head))
        except InputError as exc:
            raise _refuse(src, name, f"fails verification: format: expected a .npy array file, found {exc}") from None
        problem = integrity.header_problem(header, member)
        if problem:
            raise _refuse(src, name, f"fails verification: {problem}")
        implied = integrity.implied_size(header)
        if implied > bound[0]:
            raise _too_big(src, name, implied, bound)
        bound = (implied, "the size its .npy header implies")
    written = 0
    with open(target, "xb") as fout:
        chunk = head or read(CHUNK)
        while chunk:
            written += len(chunk)
            if written > bound[0]:
                raise _too_big(src, name, written, bound)
            budget.spend(len(chunk))
            fout.write(chunk)
            chunk = read(CHUNK)


@contextmanager
def unreadable(src: str, path: str | os.PathLike, errors: tuple = ZIP_ERRORS, what: str = "zip") -> Iterator[None]:
    """Turn what an archive module (zipfile by default) raises on malformed input into one FetchError."""
    try:
        yield
    except FetchError:
        raise
    except errors as exc:
        try:
            with open(path, "rb") as f:
                head = f.read(16)
        except OSError:  # the first bytes are only a hint; an unreadable file has none to give
            head = b"(unreadable)"
        raise FetchError(
            f"{src}: not a readable {what} ({type(exc).__name__}: {exc}; first bytes {head!r}); nothing was installed. "
            "The download was truncated or the server sent something else (an HTML error page?): "
            "retry, or use --mirror"
        ) from None


def unsafe_reason(info: zipfile.ZipInfo) -> str | None:
    """Why a zip entry must not be extracted, or None."""
    if stat.S_ISLNK(info.external_attr >> 16):
        return "is a symbolic link"
    if info.flag_bits & 0x1:
        return "is encrypted"
    return unsafe_path(info.filename)


def unsafe_path(name: str) -> str | None:
    """Why an archive entry's path must not be written (absolute, non-POSIX, ``..``), or None."""
    if name.startswith("/") or "\\" in name or (len(name) > 1 and name[1] == ":"):
        return "has an absolute or non-POSIX path"
    if ".." in PurePosixPath(name).parts:
        return "climbs out of the folder ('..')"
    return None


def extract_zip(zip_path: str | os.PathLike, members: Sequence[Member], out_dir: str | os.PathLike) -> dict[str, Path]:
    """The manifest's ``members`` of a folder zip, copied into ``out_dir``: ``{name: path}``.

    Every entry is judged (safety, plan, declared sizes) before any byte is written; the
    caller discards ``out_dir`` when this raises.
    """
    src, out_dir = Path(zip_path).name, Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with unreadable(src, zip_path):
        zf = zipfile.ZipFile(zip_path)
    with zf:
        with unreadable(src, zip_path):
            infos = [i for i in zf.infolist() if not i.is_dir()]
        for info in infos:
            reason = unsafe_reason(info)
            if reason:
                raise _refuse(src, info.filename, reason)
        chosen = plan([i.filename for i in infos], members, src)
        by_name = {i.filename: i for i in infos}
        for m in members:  # declared sizes, before writing any byte
            if m.name in chosen:
                bound, size = integrity.member_size_bound(m), by_name[chosen[m.name]].file_size
                if size > bound[0]:
                    raise _too_big(src, chosen[m.name], size, bound)
        budget, out = _Budget(src), {}
        for m in members:
            if m.name not in chosen:
                continue  # an optional member the folder does not hold
            with unreadable(src, zip_path):
                fin = zf.open(by_name[chosen[m.name]])
            with fin:
                def read(n: int, fin=fin) -> bytes:
                    with unreadable(src, zip_path):
                        return fin.read(n)

                out[m.name] = out_dir / m.name  # a manifest name: plain, validated by the schema
                _copy_member(read, out[m.name], src, chosen[m.name], m, budget)
        return out


def regular_files(folder: Path, refuse: Callable[[str, str, str], Exception], *,
                  count: Callable[[str], None] | None = None,
                  onerror: Callable[[OSError], None] | None = None) -> list[tuple[str, Path]]:
    """``(POSIX path relative to folder, path)`` of every regular file under ``folder``, sorted.

    A symbolic link or a special file anywhere refuses the whole folder:
    ``refuse(str(folder), rel, why)`` is raised. ``count(rel)`` sees every entry, files and
    folders (a caller's entry budget); ``onerror`` as :func:`os.walk`'s (default: ignored)."""
    src, found = str(folder), []
    for root, dirs, files in os.walk(folder, followlinks=False, onerror=onerror):
        for entry in sorted(dirs + files):
            path = Path(root, entry)
            rel = path.relative_to(folder).as_posix()
            if count is not None:
                count(rel)
            if path.is_symlink():
                raise refuse(src, rel, "is a symbolic link")
            if entry in files:
                if not stat.S_ISREG(path.lstat().st_mode):
                    raise refuse(src, rel, "is not a regular file")
                found.append((rel, path))
    return sorted(found)


def open_nofollow(path: Path) -> io.BufferedReader:
    """``path`` opened for reading, never through a symbolic link: a file swapped for a link
    after a walk checked it is refused, not followed. An error is one FetchError line."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:  # unreadable, vanished, or now a link
        raise FetchError(f"{path}: cannot open ({exc.strerror or exc}); nothing was installed") from None
    return os.fdopen(fd, "rb")


def copy_folder(folder: str | os.PathLike, members: Sequence[Member], out_dir: str | os.PathLike) -> dict[str, Path]:
    """:func:`extract_zip` for a folder on disk (a folder zip unpacked by hand, or copied)."""
    folder, out_dir = Path(folder), Path(out_dir)
    src = str(folder)
    names = [rel for rel, _ in regular_files(folder, _refuse)]
    chosen = plan(names, members, src)
    out_dir.mkdir(parents=True, exist_ok=True)
    budget, out = _Budget(src), {}
    for m in members:
        if m.name not in chosen:
            continue
        path = folder / chosen[m.name]
        bound, size = integrity.member_size_bound(m), path.stat().st_size
        if size > bound[0]:
            raise _too_big(src, chosen[m.name], size, bound)
        out[m.name] = out_dir / m.name
        _copy_file(path, out[m.name], src, chosen[m.name], m, budget)
    return out


def copy_file(path: str | os.PathLike, member: Member, target: str | os.PathLike) -> Path:
    """One local file (e.g. a workbook given with --from) into ``target`` with a member's
    checks: bounded by the member's size, never through a symbolic link."""
    path = Path(path)
    _copy_file(path, Path(target), str(path), path.name, member, _Budget(str(path)))
    return Path(target)


def _copy_file(path: Path, target: Path, src: str, name: str, member: Member, budget: _Budget) -> None:
    with open_nofollow(path) as fin:
        def read(n: int) -> bytes:
            try:
                return fin.read(n)
            except OSError as exc:  # a disk or network-share fault: one error line
                raise FetchError(f"{path}: cannot read ({exc}); nothing was installed") from None

        _copy_member(read, target, src, name, member, budget)
