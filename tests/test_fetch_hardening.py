"""Fetch hardening (issue 10), through the CLI against the local HTTP server.

Every fault test starts from a cache that holds a verified folder less one file (so a
download is needed and a first-use record exists), runs ``anomaly-ref fetch``, and
asserts exit 2, exactly one ``error:`` line, and the cache as it was: no new file outside
``.rejected/``, the first-use record unchanged, ``.tmp/`` empty.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from anomaly_ref.cli import main
from anomaly_ref.data import integrity

from httpserver import Reply
from test_fetch import (  # noqa: F401  (fixtures used by name)
    DS, NORMAL, ROOT, WB_ROUTE, ZIP_PATH, cache, cache_files, clean_env, feature_paths,
    folder_arrays, make_manifest, make_zip, npy_bytes, server, sha, sleeps,
)


# ---------------------------------------------------------------- helpers


def snapshot(cache: Path) -> dict[str, bytes]:
    """Every file outside .locks/ and .rejected/ with its bytes (first-use records included)."""
    return {p.relative_to(cache).as_posix(): p.read_bytes() for p in cache.rglob("*")
            if p.is_file() and p.relative_to(cache).parts[0] not in (".locks", ".rejected")}


@pytest.fixture(autouse=True)
def pooch_to_stderr(monkeypatch):
    """As in a real run: pooch's handler writes to the (captured) stderr."""
    import pooch

    for handler in pooch.get_logger().handlers:
        monkeypatch.setattr(handler, "stream", sys.stderr)


@pytest.fixture
def primed(server, make_manifest, cache):
    """A cache holding a verified folder less NORMAL; returns the manifest path."""
    server.route(ZIP_PATH, Reply(make_zip(folder_arrays())))
    manifest = make_manifest()
    assert main(["fetch", "--dataset", DS, "--only", "features", "--manifest", str(manifest),
                 "--cache", str(cache), "--retries", "0", "--no-progress"]) == 0
    (cache / "features" / DS / NORMAL).unlink()
    return manifest


def fetch_cli(manifest, cache, *extra) -> list[str]:
    return ["fetch", "--dataset", DS, "--manifest", str(manifest), "--cache", str(cache), "--retries", "0",
            "--no-progress", *extra]


def assert_refused(rc: int, err: str, before: dict, cache: Path, match: str) -> str:
    lines = err.splitlines()
    assert rc == 2, err
    assert [ln for ln in lines if ln.startswith("error:")] == [lines[-1]], err  # one error line, the last
    assert "Traceback" not in err and match in lines[-1], err
    assert snapshot(cache) == before  # nothing new installed, first-use record untouched
    assert not any((cache / ".tmp").iterdir())
    return lines[-1]


def entry_bytes(zip_bytes: bytes, name: str) -> tuple[int, int]:
    """(offset, length) of ``name``'s compressed data inside ``zip_bytes``."""
    zf = zipfile.ZipFile(io.BytesIO(zip_bytes))
    info = zf.getinfo(name)
    offset = info.header_offset
    name_len, extra_len = int.from_bytes(zip_bytes[offset + 26:offset + 28], "little"), \
        int.from_bytes(zip_bytes[offset + 28:offset + 30], "little")
    return offset + 30 + name_len + extra_len, info.compress_size


def corrupt(compression: int) -> bytes:
    """A folder zip whose NORMAL entry has garbage where its compressed data should be."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in folder_arrays().items():
            zf.writestr(name, data)
    body = bytearray(buf.getvalue())
    start, length = entry_bytes(bytes(body), NORMAL)
    body[start:start + length] = b"\xff" * length
    return bytes(body)


def _patch_headers(body: bytes, name: str, local: int, central: int, fn) -> bytes:
    """Apply ``fn`` to the byte at offset ``local`` of ``name``'s local header and ``central``
    of its central directory record."""
    out = bytearray(body)
    off = zipfile.ZipFile(io.BytesIO(body)).getinfo(name).header_offset
    out[off + local] = fn(out[off + local])
    i = body.find(b"PK\x01\x02")
    while i >= 0:
        n = int.from_bytes(body[i + 28:i + 30], "little")
        if body[i + 46:i + 46 + n] == name.encode():
            out[i + central] = fn(out[i + central])
        i = body.find(b"PK\x01\x02", i + 1)
    return bytes(out)


def crc_broken() -> bytes:
    """NORMAL's stored CRC-32 altered: the data decompresses but does not match."""
    return _patch_headers(make_zip(folder_arrays(), dropbox_root=False), NORMAL, 14, 16, lambda b: b ^ 0xFF)


def encrypted() -> bytes:
    """NORMAL flagged as encrypted (general purpose bit 0) in its local and central headers."""
    return _patch_headers(make_zip(folder_arrays(), dropbox_root=False), NORMAL, 6, 8, lambda b: b | 1)


def overflow_npy() -> bytes:
    """A .npy header claiming 2.4e16 x 768 float32 rows: the byte count wraps in int64."""
    from numpy.lib import format as npformat

    buf = io.BytesIO()
    npformat.write_array_header_1_0(buf, {"descr": "<f4", "fortran_order": False, "shape": (24_019_198_012_642_645, 768)})
    return buf.getvalue() + b"\x00" * 64


def padded_npy() -> bytes:
    """A valid 4 x 768 header followed by 64 MiB: compresses to a few KiB."""
    return npy_bytes(np.zeros((4, 768), np.float32)) + b"\x00" * (64 << 20)


FAULTS = {  # id: (zip body, text of the error line)
    "unlisted-npy": (make_zip({**folder_arrays(), "ped2/extra.npy": b"x"}), "feature files not listed ['ped2/extra.npy']"),
    "deflate-garbage": (corrupt(zipfile.ZIP_DEFLATED), "not a readable zip (error: Error -3"),
    "lzma-garbage": (corrupt(zipfile.ZIP_LZMA), "not a readable zip ("),
    "bzip2-garbage": (corrupt(zipfile.ZIP_BZIP2), "not a readable zip (OSError: Invalid data stream"),
    "crc": (crc_broken(), "not a readable zip (BadZipFile: Bad CRC-32"),
    "encrypted": (encrypted(), f"entry '{NORMAL}' is encrypted; refusing the whole archive"),
    "npy-overflow": (make_zip({**folder_arrays(), NORMAL: overflow_npy()}),
                     f"entry '{NORMAL}' fails verification: rows: expected 1 to {integrity.MAX_ROWS}"),
    "npy-padded": (make_zip({**folder_arrays(), NORMAL: padded_npy()}),
                   f"entry '{NORMAL}' would unpack to "),
}


# ---------------------------------------------------------------- faults, one per item


@pytest.mark.parametrize("fault", list(FAULTS))
def test_malformed_folder_zip_is_one_error_line(server, primed, cache, capsys, fault):
    body, match = FAULTS[fault]
    before = snapshot(cache)
    server.route(ZIP_PATH, Reply(body))
    capsys.readouterr()
    rc = main(fetch_cli(primed, cache, "--only", "features"))
    line = assert_refused(rc, capsys.readouterr().err, before, cache, match)
    if fault == "npy-padded":  # stopped at the size the header implies, not after 64 MiB
        implied = len(npy_bytes(np.zeros((4, 768), np.float32)))
        written = int(line.split("would unpack to ")[1].split()[0])
        assert f"more than the {implied} allowed (the size its .npy header implies)" in line
        assert written <= implied + (1 << 20)


@pytest.mark.parametrize("stage", ["download", "unpack"])
def test_folder_total_cap(server, primed, cache, capsys, monkeypatch, stage):
    files = folder_arrays()
    monkeypatch.setattr(integrity, "MAX_ARCHIVE_BYTES", sum(map(len, files.values())) - 1)
    if stage == "unpack":  # deflated: the download is small, its members are not
        server.route(ZIP_PATH, Reply(dropbox_folder_zip(files)))
        match = "bytes allowed for one folder; refusing the whole archive"
    else:  # stored: the download itself is over the cap
        match = f"sent more than the {integrity.MAX_ARCHIVE_BYTES} bytes allowed (the limit for one folder); stopped after"
    before = snapshot(cache)
    capsys.readouterr()
    rc = main(fetch_cli(primed, cache, "--only", "features"))
    assert_refused(rc, capsys.readouterr().err, before, cache, match)


def test_gzip_encoded_workbook_stops_at_its_pinned_size(server, primed, cache, capsys):
    pinned = next(a for a in json.loads((ROOT / "data_manifest.json").read_text())["artifacts"]
                  if a["id"] == f"workbooks/{DS}")["members"][0]["size"]
    bomb = gzip.compress(b"\x00" * (64 << 20))  # 64 MiB decoded, ~64 KiB sent
    server.route(WB_ROUTE, Reply(bomb, headers=(("Content-Encoding", "gzip"),)))
    before = snapshot(cache)
    capsys.readouterr()
    rc = main(fetch_cli(primed, cache, "--only", "workbook"))
    line = assert_refused(rc, capsys.readouterr().err, before, cache,
                          f"sent more than the {pinned} bytes allowed (its pinned size); stopped after ")
    assert int(line.split("stopped after ")[1].split()[0]) < pinned + (4 << 20)
    assert server.headers[-1].get("Accept-Encoding") == "identity"


def test_timeout_inf_is_one_error_line(primed, cache, capsys):
    before = snapshot(cache)
    capsys.readouterr()
    rc = main(fetch_cli(primed, cache, "--timeout", "inf"))
    assert_refused(rc, capsys.readouterr().err, before, cache, "timeout (--timeout): expected finite seconds > 0, found inf")


def test_thirty_thousand_entries_are_checked_fast_and_named_briefly(server, primed, cache, capsys):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for name, data in folder_arrays().items():
            zf.writestr(name, data)
        for i in range(30_000):
            zf.writestr(f"junk{i:05d}.npy", b"")
    server.route(ZIP_PATH, Reply(buf.getvalue()))
    before = snapshot(cache)
    capsys.readouterr()
    start = time.monotonic()
    rc = main(fetch_cli(primed, cache, "--only", "features"))
    elapsed = time.monotonic() - start
    line = assert_refused(rc, capsys.readouterr().err, before, cache,
                          "feature files not listed ['junk00000.npy', 'junk00001.npy', 'junk00002.npy', "
                          "'junk00003.npy', 'junk00004.npy'] and 29995 more")
    assert len(line) < 1000 and elapsed < 5, (len(line), elapsed)


# ---------------------------------------------------------------- the real folder zips


def dropbox_folder_zip(files: dict[str, bytes], top: str | None = "ped2") -> bytes:
    """A folder zip as Dropbox plausibly builds it: a directory entry, one top-level folder,
    the authors' .txt beside the 12 features, macOS leftovers."""
    pre = f"{top}/" if top else ""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(zipfile.ZipInfo(pre or "/"), b"")
        zf.writestr(f"{pre}Description of the features.txt", b"12 feature files, float32 (rows, dim)\n")
        for name, data in files.items():
            zf.writestr(pre + name, data)
        zf.writestr(f"{pre}.DS_Store", b"\x00\x00\x00\x01Bud1")
        zf.writestr(f"__MACOSX/{pre}._{NORMAL}", b"\x00\x05\x16\x07 AppleDouble")
    return buf.getvalue()


@pytest.mark.parametrize("top", ["ped2", None], ids=["one-top-folder", "flat"])
def test_dropbox_folder_zip_installs_the_twelve_features(server, make_manifest, cache, capsys, caplog, top):
    files = folder_arrays()
    server.route(ZIP_PATH, Reply(dropbox_folder_zip(files, top)))
    with caplog.at_level("INFO", logger="anomaly_ref.data.unpack"):
        rc = main(fetch_cli(make_manifest(), cache, "--only", "features"))
    err = capsys.readouterr().err
    assert rc == 0, err
    assert cache_files(cache) == feature_paths(files)  # the .txt and the macOS files never written
    for name, data in files.items():
        assert (cache / "features" / DS / name).read_bytes() == data
    skipped = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(skipped) == 1 and "skipped 3 entries" in skipped[0] and "Description of the features.txt" in skipped[0]
    assert f"features/{DS}: 12 file(s) verified, downloaded from {server.base}{ZIP_PATH}" in err


def optional_txt(size: int | None = None, sha256: str | None = None):
    def edit(doc):
        art = next(a for a in doc["artifacts"] if a["id"] == f"features/{DS}")
        art["members"].append({"name": "Description of the features.txt", "sha256": sha256, "size": size,
                               "optional": True})
    return edit


def test_optional_member_kept_and_verified_when_present(server, make_manifest, cache, capsys):
    files = folder_arrays()
    txt = b"12 feature files, float32 (rows, dim)\n"
    manifest = make_manifest(optional_txt())
    server.route(ZIP_PATH, Reply(dropbox_folder_zip(files)))
    assert main(fetch_cli(manifest, cache, "--only", "features")) == 0
    assert (cache / "features" / DS / "Description of the features.txt").read_bytes() == txt
    assert json.loads((cache / "features" / DS / ".tofu.json").read_text())["Description of the features.txt"]["sha256"] == sha(txt)
    # absent from the folder: fine; pinned and different: refused like any member
    other = tmp_cache = cache.parent / "cache2"
    server.route(ZIP_PATH, Reply(make_zip(files)))
    assert main(fetch_cli(manifest, tmp_cache, "--only", "features")) == 0
    assert cache_files(other) == feature_paths(files)
    capsys.readouterr()
    server.route(ZIP_PATH, Reply(dropbox_folder_zip(files)))
    bad = make_manifest(optional_txt(size=len(txt), sha256=sha(b"other")))
    rc = main(fetch_cli(bad, cache.parent / "cache3", "--only", "features"))
    err = capsys.readouterr().err
    assert rc == 2 and f"Description of the features.txt: fails verification: sha256: expected {sha(b'other')}" in err
    kept = {p for p in cache_files(cache.parent / "cache3") if p.startswith(".rejected/")}  # the refused .txt, kept
    assert len(kept) == 1 and cache_files(cache.parent / "cache3") == kept


# ---------------------------------------------------------------- forensics, signals, progress


def test_two_rejections_in_one_second_are_both_kept(server, make_manifest, cache):
    files = folder_arrays()
    server.route(ZIP_PATH, Reply(make_zip(files)))
    manifest = make_manifest()
    args = fetch_cli(manifest, cache, "--only", "features")
    assert main(args) == 0
    normal = cache / "features" / DS / NORMAL
    tampered = []
    for k in range(2):
        bad = files[NORMAL][:-4] + bytes([k, 0, 0x80, 0x7F])
        normal.write_bytes(bad)
        tampered.append(bad)
        assert main(args) == 0
    rejected = sorted((cache / ".rejected" / "features" / DS).iterdir())
    assert len(rejected) == 2 and sorted(p.read_bytes() for p in rejected) == sorted(tampered)
    assert normal.read_bytes() == files[NORMAL]


def test_sigterm_cleans_the_work_folder(server, make_manifest, cache, tmp_path):
    server.route(ZIP_PATH, Reply(make_zip(folder_arrays()), stall=30))
    env = {**os.environ, "NO_PROXY": "127.0.0.1,localhost"}
    cli = "import sys; from anomaly_ref.cli import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.Popen([sys.executable, "-c", cli, *fetch_cli(make_manifest(), cache)],
                            cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not (cache / ".tmp").is_dir() or not any((cache / ".tmp").iterdir()):
        assert time.monotonic() < deadline and proc.poll() is None, "no work folder appeared"
        time.sleep(0.05)
    while server.requests() == 0:  # the download is under way
        assert time.monotonic() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 128 + signal.SIGTERM and "terminated" in err, err
    assert not any((cache / ".tmp").iterdir()) and cache_files(cache) == set()


def test_progress_bar_on_a_terminal_and_summary(server, make_manifest, cache, capsys, monkeypatch):
    server.route(ZIP_PATH, Reply(make_zip(folder_arrays())))
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    rc = main(["fetch", "--dataset", DS, "--only", "features", "--manifest", str(make_manifest()),
               "--cache", str(cache), "--retries", "0"])
    err = capsys.readouterr().err
    assert rc == 0 and "100%" in err  # tqdm's bar
    assert f"features/{DS}: 12 file(s) verified, downloaded from {server.base}{ZIP_PATH}" in err
    # a second run: from the cache, and no bar without a terminal
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)
    assert main(fetch_cli(make_manifest(), cache, "--only", "features")) == 0
    err = capsys.readouterr().err
    assert "100%" not in err and f"features/{DS}: 12 file(s) verified, already in the cache" in err


@pytest.mark.parametrize("failure", ["http-404", "refused"])
def test_hopeless_failures_are_not_retried(server, make_manifest, cache, capsys, sleeps, failure):
    """A 4xx reply or a host that refuses the connection ends the attempts at once (--retries 3)."""
    import socket

    server.route(ZIP_PATH, Reply(b"gone", status=404))
    extra = []
    if failure == "refused":
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            extra = ["--mirror", f"http://127.0.0.1:{sock.getsockname()[1]}"]
    rc = main(fetch_cli(make_manifest(), cache, "--only", "features", "--retries", "3", *extra))
    err = capsys.readouterr().err
    assert rc == 2 and sleeps == [] and err.count("error:") == 1, err
    if failure == "http-404":
        assert server.requests() == 1 and "HTTP 404" in err and "after 1 attempt(s)" in err
    else:
        assert "cannot connect to" in err and "not retried" in err and "ways out:" in err
    assert cache_files(cache) == set()
