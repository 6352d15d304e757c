"""Downloads against a real local HTTP server: the success path and every fault of docs/fetch.md.

Each fault test asserts the error text and that the cache holds no unverified file.
"""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import re
import stat
import threading
import time
import zipfile
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import quote

import numpy as np
import pytest

from anomaly_ref.data import fetch
from anomaly_ref import registry
from anomaly_ref.cli import main
from anomaly_ref.errors import FetchError, InputError
from anomaly_ref.data.integrity import dropbox_direct

from httpserver import Reply, Server

ROOT = Path(__file__).resolve().parent.parent
DS = "ped2"  # row counts unknown in the registry, so tests may choose them
EXTRACTOR = registry.paper_backbones()[0]
ZIP_PATH = "/scl/fo/testfolder/AAAtest"
ROWS = 4
FAST = dict(retries=0, timeout=2.0)


# ---------------------------------------------------------------- helpers


def npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=arr.dtype.hasobject)
    return buf.getvalue()


def folder_arrays(rows: int = ROWS) -> dict[str, bytes]:
    """The 12 members of a feature folder, small: (rows, dim) float32, distinct values."""
    out = {}
    for k, name in enumerate(registry.paper_backbones()):
        dim = registry.BACKBONES[name].feature_dim
        for j, cls in enumerate(("normal", "anomaly")):
            out[f"{cls}_features_{name}.npy"] = npy_bytes(np.full((rows, dim), 2 * k + j, np.float32))
    return out


def make_zip(files: dict[str, bytes], *, symlinks: dict[str, str] | None = None, dropbox_root: bool = True) -> bytes:
    """A zip like Dropbox's folder download: a '/' directory entry, then top-level files."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        if dropbox_root:
            zf.writestr(zipfile.ZipInfo("/"), b"")
        for name, data in files.items():
            info = zipfile.ZipInfo(name)
            info.filename = name  # keep '/abs' and '../x' exactly as given
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            zf.writestr(info, data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, target)
    return buf.getvalue()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def cache_files(cache: Path) -> set[str]:
    """Every file in the cache except lock files and first-use records, as relative POSIX paths."""
    if not cache.exists():
        return set()
    return {p.relative_to(cache).as_posix() for p in cache.rglob("*")
            if p.is_file() and not p.relative_to(cache).as_posix().startswith(".locks/")
            and p.name != fetch.TOFU_NAME}


def tofu_record(cache: Path) -> dict:
    return json.loads((cache / "features" / DS / fetch.TOFU_NAME).read_text())


def feature_paths(names) -> set[str]:
    return {f"features/{DS}/{n}" for n in names}


WB = registry.DATASETS[DS].workbook
WB_ROUTE = "/gh/" + quote(WB)


# ---------------------------------------------------------------- fixtures


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for var in (fetch.MIRROR_ENV, fetch.OFFLINE_ENV, fetch.REQUIRE_PINNED_ENV, "ANOMALY_REF_CACHE", "ANOMALY_REF_MANIFEST"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture(autouse=True)
def sleeps(monkeypatch):
    """pooch waits 1 s, 2 s, ... between attempts; record the waits instead of sleeping."""
    import pooch.core

    waits: list[float] = []
    monkeypatch.setattr(pooch.core, "time", SimpleNamespace(sleep=waits.append))
    return waits


@pytest.fixture
def server():
    with Server() as s:
        yield s


@pytest.fixture
def cache(tmp_path) -> Path:
    return tmp_path / "cache"


@pytest.fixture
def make_manifest(tmp_path, server):
    """Write the real manifest with its ped2 URLs pointed at ``server``; ``edit(doc)`` may change it."""

    def make(edit=None) -> Path:
        doc = json.loads((ROOT / "data_manifest.json").read_text())
        for art in doc["artifacts"]:
            if art["id"] == f"features/{DS}":
                art["url"] = server.url(ZIP_PATH) + "?rlkey=abc&st=x&dl=0"
            elif art["id"] == f"workbooks/{DS}":
                art["url"] = server.url(WB_ROUTE)
        if edit:
            edit(doc)
        path = tmp_path / f"manifest-{len(list(tmp_path.glob('manifest-*')))}.json"
        path.write_text(json.dumps(doc, indent=2))
        return path

    return make


def member(doc, name: str) -> dict:
    art = next(a for a in doc["artifacts"] if a["id"] == f"features/{DS}")
    return next(m for m in art["members"] if m["name"] == name)


def pin(names_to_sha: dict[str, str]):
    def edit(doc):
        for name, value in names_to_sha.items():
            member(doc, name)["sha256"] = value
    return edit


@pytest.fixture
def wb_bytes(shared) -> bytes:
    return (shared / "paper" / WB).read_bytes()


NORMAL, ANOMALY = f"normal_features_{EXTRACTOR}.npy", f"anomaly_features_{EXTRACTOR}.npy"


def get_features(manifest, cache, **kw):
    return fetch.features(DS, EXTRACTOR, cache=cache, manifest=manifest, **{**FAST, **kw})


# ---------------------------------------------------------------- success


def test_success_then_served_from_cache(server, make_manifest, cache, caplog):
    files = folder_arrays()
    server.route(ZIP_PATH, Reply(make_zip(files)))
    manifest = make_manifest()
    with caplog.at_level("WARNING", logger="anomaly_ref.data.fetch"):
        normal, anomaly = get_features(manifest, cache)
    assert normal == cache / "features" / DS / NORMAL and anomaly == cache / "features" / DS / ANOMALY
    assert np.load(normal, allow_pickle=False).tolist() == np.load(io.BytesIO(files[NORMAL])).tolist()
    assert normal.read_bytes() == files[NORMAL] and anomaly.read_bytes() == files[ANOMALY]
    assert cache_files(cache) == feature_paths(files)  # the whole folder, verified
    assert server.requests() == 1
    assert "dl=1" in server.seen[0] and "dl=0" not in server.seen[0] and "rlkey=abc" in server.seen[0]
    assert sha(files[NORMAL]) in caplog.text and "not pinned" in caplog.text
    # trust on first use: every unpinned member installed is recorded beside it
    assert {n: (r["sha256"], r["size"]) for n, r in tofu_record(cache).items()} == \
        {n: (sha(d), len(d)) for n, d in files.items()}

    assert get_features(manifest, cache) == (normal, anomaly)
    assert server.requests() == 1  # second fetch: no request


def test_workbook_success_then_cached(server, make_manifest, cache, wb_bytes):
    server.route(WB_ROUTE, Reply(wb_bytes))
    manifest = make_manifest()
    path = fetch.workbook(DS, cache=cache, manifest=manifest, **FAST)
    assert path.read_bytes() == wb_bytes and cache_files(cache) == {f"workbooks/{DS}/{WB}"}
    assert fetch.workbook(DS, cache=cache, manifest=manifest, **FAST) == path
    assert server.requests() == 1


def test_500_twice_then_200_retries_succeed(server, make_manifest, cache, sleeps):
    files = folder_arrays()
    server.route(ZIP_PATH, Reply(b"oops", status=500), Reply(b"oops", status=500), Reply(make_zip(files)))
    get_features(make_manifest(), cache, retries=2)
    assert server.requests() == 3 and sleeps == [1, 2]
    assert cache_files(cache) == feature_paths(files)


def test_interrupted_download_then_successful_retry(server, make_manifest, cache, sleeps):
    files, body = folder_arrays(), make_zip(folder_arrays())
    server.route(ZIP_PATH, Reply(body, send_bytes=len(body) // 2), Reply(body))
    get_features(make_manifest(), cache, retries=1)
    assert server.requests() == 2 and sleeps == [1]
    assert cache_files(cache) == feature_paths(files)


def test_concurrent_fetches_download_once(server, make_manifest, cache):
    files = folder_arrays()
    server.route(ZIP_PATH, Reply(make_zip(files), stall=0.5))  # keep the first fetch busy
    manifest = make_manifest()
    results, errors = [], []

    def worker():
        try:
            results.append(get_features(manifest, cache))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == [] and len(results) == 2 and results[0] == results[1]
    assert server.requests() == 1  # the second waited for the lock, then found the files
    assert cache_files(cache) == feature_paths(files)


def test_mirror_serves_the_cache_layout(server, make_manifest, cache, wb_bytes):
    files = folder_arrays()
    for name in (NORMAL, ANOMALY):
        server.route(f"/mirror/features/{DS}/{name}", Reply(files[name]))
    server.route(f"/mirror/workbooks/{DS}/{quote(WB)}", Reply(wb_bytes))
    manifest = make_manifest()
    normal, anomaly = get_features(manifest, cache, mirror=server.url("/mirror/"))
    assert normal.read_bytes() == files[NORMAL] and anomaly.read_bytes() == files[ANOMALY]
    path = fetch.workbook(DS, cache=cache, manifest=manifest, mirror=server.url("/mirror"), **FAST)
    assert path.read_bytes() == wb_bytes
    assert server.requests(ZIP_PATH) == 0 and server.requests(WB_ROUTE) == 0
    assert cache_files(cache) == feature_paths([NORMAL, ANOMALY]) | {f"workbooks/{DS}/{WB}"}


def test_mirror_from_env(server, make_manifest, cache, monkeypatch):
    files = folder_arrays()
    for name in (NORMAL, ANOMALY):
        server.route(f"/m/features/{DS}/{name}", Reply(files[name]))
    monkeypatch.setenv(fetch.MIRROR_ENV, server.url("/m"))
    get_features(make_manifest(), cache)
    assert server.requests(ZIP_PATH) == 0 and server.requests() == 2


def test_pinned_members_accepted_with_require_pinned(server, make_manifest, cache, caplog):
    files = folder_arrays()
    server.route(ZIP_PATH, Reply(make_zip(files)))
    manifest = make_manifest(pin({NORMAL: sha(files[NORMAL]), ANOMALY: sha(files[ANOMALY])}))
    with caplog.at_level("WARNING"):
        get_features(manifest, cache, require_pinned=True)
    assert "not pinned" not in caplog.text
    assert cache_files(cache) == feature_paths([NORMAL, ANOMALY])  # unpinned members not installed


# ---------------------------------------------------------------- faults: verification


def test_pinned_member_sha256_mismatch(server, make_manifest, cache):
    files = folder_arrays()
    server.route(ZIP_PATH, Reply(make_zip(files)))
    pinned = sha(b"the bytes the authors published")
    with pytest.raises(FetchError, match=rf"{NORMAL}.*sha256: expected {pinned}, found {sha(files[NORMAL])}.*Nothing was "
                                         rf"installed \(the copy is kept in .*\.rejected/features/{DS}/{NORMAL}\."):
        get_features(make_manifest(pin({NORMAL: pinned})), cache)
    kept = [p for p in cache_files(cache) if not p.startswith(".rejected/")]
    assert kept == [] and (cache / ".rejected" / "features" / DS).iterdir().__next__().read_bytes() == files[NORMAL]


def test_workbook_sha256_mismatch(server, make_manifest, cache, wb_bytes, sleeps):
    tampered = wb_bytes[:-1] + bytes([wb_bytes[-1] ^ 1])
    server.route(WB_ROUTE, Reply(tampered))
    doc = json.loads((ROOT / "data_manifest.json").read_text())
    pinned = next(a for a in doc["artifacts"] if a["id"] == f"workbooks/{DS}")["members"][0]["sha256"]
    assert pinned == sha(wb_bytes)
    with pytest.raises(FetchError, match=rf"sha256 mismatch .*expected sha256:{pinned} but got {sha(tampered)}"):
        fetch.workbook(DS, cache=cache, manifest=make_manifest(), retries=1, timeout=2.0)
    assert server.requests() == 2 and sleeps == [1]  # pooch retried once
    assert cache_files(cache) == set()


@pytest.mark.parametrize(
    "array, rows, match",
    [
        (np.zeros((ROWS, 10), np.float32), None, r"dim: expected 768, found 10"),
        (np.zeros((ROWS, 768), np.float64), None, r"dtype: expected float32, found float64"),
        (np.zeros((ROWS, 768), np.float32), ROWS + 1, rf"rows: expected {ROWS + 1}, found {ROWS}"),
        (np.zeros((ROWS, 2, 768), np.float32), None, r"shape: expected \(rows, 768\), found \(4, 2, 768\)"),
    ],
    ids=["dim", "dtype", "rows", "ndim"],
)
def test_unpinned_member_with_wrong_array(server, make_manifest, cache, array, rows, match):
    files = {**folder_arrays(), NORMAL: npy_bytes(array)}
    server.route(ZIP_PATH, Reply(make_zip(files)))
    edit = (lambda doc: member(doc, NORMAL).__setitem__("rows", rows)) if rows else None
    with pytest.raises(FetchError, match=rf"entry '{NORMAL}' fails verification: {match}.*refusing the whole archive"):
        get_features(make_manifest(edit), cache)
    assert cache_files(cache) == set()


def test_npy_that_is_not_an_array_file(server, make_manifest, cache):
    files = {**folder_arrays(), NORMAL: b"<html>Dropbox error page</html>"}
    server.route(ZIP_PATH, Reply(make_zip(files)))
    # the file said to be what it is (issue 24), not only "not a .npy array file"
    with pytest.raises(FetchError, match=r"format: expected a \.npy array file, found text: '<html>Dropbox error page"):
        get_features(make_manifest(), cache)
    assert cache_files(cache) == set()


class _Payload:
    """Unpickling this creates a marker file: proof that a pickle was (not) executed."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.mark.parametrize("form", ["object-array-npy", "raw-pickle"])
def test_pickle_is_never_unpickled(server, make_manifest, cache, tmp_path, form):
    marker = tmp_path / "pwned"
    payload = np.array([_Payload(marker)], dtype=object)
    data = npy_bytes(payload) if form == "object-array-npy" else pickle.dumps(payload)
    server.route(ZIP_PATH, Reply(make_zip({**folder_arrays(), NORMAL: data})))
    match = r"dtype: expected float32, found object \(Python objects, a pickle\)" if form == "object-array-npy" \
        else r"format: expected a \.npy array file"
    with pytest.raises(FetchError, match=match):
        get_features(make_manifest(), cache)
    assert not marker.exists() and cache_files(cache) == set()


# ---------------------------------------------------------------- faults: transport


def test_truncated_body_lying_content_length(server, make_manifest, cache):
    body = make_zip(folder_arrays())
    server.route(ZIP_PATH, Reply(body, content_length=len(body) + 1000))
    with pytest.raises(FetchError, match=r"broke off after 1 attempt\(s\).*IncompleteRead.*nothing was written"):
        get_features(make_manifest(), cache)
    assert cache_files(cache) == set()


def test_server_closes_early_without_length_zip(server, make_manifest, cache):
    body = make_zip(folder_arrays())
    server.route(ZIP_PATH, Reply(body, send_bytes=len(body) // 3, content_length=-1))
    with pytest.raises(FetchError, match=r"not a readable zip .*nothing was installed"):
        get_features(make_manifest(), cache)
    assert cache_files(cache) == set()


def test_server_closes_early_without_length_workbook(server, make_manifest, cache, wb_bytes):
    server.route(WB_ROUTE, Reply(wb_bytes, send_bytes=1000, content_length=-1))
    with pytest.raises(FetchError, match=rf"{re.escape(WB)}: sha256 mismatch"):
        fetch.workbook(DS, cache=cache, manifest=make_manifest(), **FAST)
    assert cache_files(cache) == set()


def test_http_404(server, make_manifest, cache):
    server.route(ZIP_PATH, Reply(b"gone", status=404))
    with pytest.raises(FetchError, match=r"HTTP 404 from http://127\.0\.0\.1:\d+/scl/fo/.*ways out: .*--mirror URL.*--from PATH"):
        get_features(make_manifest(), cache)
    assert cache_files(cache) == set() and server.requests() == 1


def test_server_stall_honours_timeout(server, make_manifest, cache):
    server.route(ZIP_PATH, Reply(make_zip(folder_arrays()), stall=20))
    start = time.monotonic()
    with pytest.raises(FetchError, match=r"no data from .* for 0\.3 s, 1 attempt\(s\)"):
        get_features(make_manifest(), cache, timeout=0.3)
    assert time.monotonic() - start < 5
    assert cache_files(cache) == set()


# ---------------------------------------------------------------- faults: the zip


def _zip_faults():
    good = folder_arrays()
    less = dict(good)
    gone = less.pop(ANOMALY.replace(EXTRACTOR, registry.paper_backbones()[-1]))
    assert gone
    return [
        ("dotdot", make_zip({**good, "../escape.npy": good[NORMAL]}), r"entry '\.\./escape\.npy' climbs out"),
        ("absolute", make_zip({**good, "/tmp/abs.npy": good[NORMAL]}), r"entry '/tmp/abs\.npy' has an absolute"),
        ("symlink", make_zip(good, symlinks={"link.npy": "/etc/passwd"}), r"entry 'link\.npy' is a symbolic link"),
        ("missing", make_zip(less), r"members differ from the manifest: missing \['anomaly_features_coatnet_0_rw_224\.npy'\], feature files not listed \[\]"),
        ("extra", make_zip({**good, "extra.npy": good[NORMAL]}), r"missing \[\], feature files not listed \['extra\.npy'\]"),
        ("nested", make_zip({**good, f"sub/{NORMAL}": good[NORMAL]}), r"feature files not listed \['sub/"),
        ("corrupt", b"PK\x03\x04" + b"\x00" * 200, r"not a readable zip"),
    ]


@pytest.mark.parametrize("body, match", [f[1:] for f in _zip_faults()], ids=[f[0] for f in _zip_faults()])
def test_unsafe_or_wrong_zip(server, make_manifest, cache, tmp_path, body, match):
    server.route(ZIP_PATH, Reply(body))
    with pytest.raises(FetchError, match=match):
        get_features(make_manifest(), cache)
    assert cache_files(cache) == set()
    assert not list(tmp_path.rglob("escape.npy")) and not list(tmp_path.rglob("abs.npy"))


def test_failed_refetch_keeps_verified_files(server, make_manifest, cache):
    files = folder_arrays()
    server.route(ZIP_PATH, Reply(make_zip(files)))
    manifest = make_manifest()
    normal, _ = get_features(manifest, cache)
    normal.unlink()
    server.route(ZIP_PATH, Reply(b"not a zip"))
    with pytest.raises(FetchError, match="not a readable zip"):
        get_features(manifest, cache)
    assert cache_files(cache) == feature_paths(set(files) - {NORMAL})


def test_tampered_cache_file_is_set_aside_and_refetched(server, make_manifest, cache):
    files = folder_arrays()
    server.route(ZIP_PATH, Reply(make_zip(files)))
    manifest = make_manifest(pin({NORMAL: sha(files[NORMAL])}))
    normal, _ = get_features(manifest, cache)
    normal.write_bytes(files[NORMAL][:-4] + b"\x00\x00\x80\x7f")  # same size, same header, other data
    assert get_features(manifest, cache)[0].read_bytes() == files[NORMAL]
    assert server.requests() == 2
    rejected = [p for p in cache_files(cache) if p.startswith(".rejected/")]
    assert len(rejected) == 1 and rejected[0].startswith(f".rejected/features/{DS}/{NORMAL}.")


# ---------------------------------------------------------------- offline, require-pinned


def test_offline_with_empty_cache_names_every_missing_file(server, make_manifest, cache):
    server.route(ZIP_PATH, Reply(make_zip(folder_arrays())))
    with pytest.raises(FetchError, match=rf"offline and 2 file\(s\) missing.*{NORMAL}.*{ANOMALY}.*without --offline"):
        get_features(make_manifest(), cache, offline=True)
    assert server.requests() == 0 and cache_files(cache) == set()


def test_offline_after_fetch_uses_cache(server, make_manifest, cache, monkeypatch):
    server.route(ZIP_PATH, Reply(make_zip(folder_arrays())))
    manifest = make_manifest()
    paths = get_features(manifest, cache)
    monkeypatch.setenv(fetch.OFFLINE_ENV, "1")
    assert get_features(manifest, cache) == paths and server.requests() == 1


@pytest.mark.parametrize("via", ["argument", "env"])
def test_require_pinned_refuses_unpinned_member(server, make_manifest, cache, monkeypatch, via):
    server.route(ZIP_PATH, Reply(make_zip(folder_arrays())))
    kw = {"require_pinned": True} if via == "argument" else {}
    if via == "env":
        monkeypatch.setenv(fetch.REQUIRE_PINNED_ENV, "1")
    with pytest.raises(FetchError, match=rf"{NORMAL}, {ANOMALY} not pinned .*nothing was downloaded.*manifest pin"):
        get_features(make_manifest(), cache, **kw)
    assert server.requests() == 0 and cache_files(cache) == set()


def test_dropbox_links_become_direct_downloads():
    for ds in registry.DATASETS.values():
        url = dropbox_direct(ds.features_url)
        assert url.endswith("&dl=1") and "dl=0" not in url
        assert url.split("?")[0] == ds.features_url.split("?")[0]
        assert re.search(r"rlkey=\w+", url).group() in ds.features_url


# ---------------------------------------------------------------- trust on first use


def test_unpinned_cache_file_changed_is_set_aside_and_refetched(server, make_manifest, cache):
    files = folder_arrays()
    server.route(ZIP_PATH, Reply(make_zip(files)))
    manifest = make_manifest()  # NORMAL unpinned
    normal, _ = get_features(manifest, cache)
    normal.write_bytes(files[NORMAL][:-4] + b"\x00\x00\x80\x7f")  # same size and header: passes the array checks
    assert get_features(manifest, cache)[0].read_bytes() == files[NORMAL]
    assert server.requests() == 2
    rejected = [p for p in cache_files(cache) if p.startswith(".rejected/")]
    assert len(rejected) == 1 and rejected[0].startswith(f".rejected/features/{DS}/{NORMAL}.")


def test_unpinned_source_changed_after_first_use(server, make_manifest, cache):
    files = folder_arrays()
    server.route(ZIP_PATH, Reply(make_zip(files)))
    manifest = make_manifest()
    normal, _ = get_features(manifest, cache)
    normal.unlink()
    changed = {**files, NORMAL: npy_bytes(np.full((ROWS, 768), 9, np.float32))}
    server.route(ZIP_PATH, Reply(make_zip(changed)))
    with pytest.raises(FetchError, match=rf"features/{DS}/{NORMAL}: fails verification: sha256: "
                                         rf"expected {sha(files[NORMAL])}, found {sha(changed[NORMAL])} "
                                         rf"\(recorded at first use in .*{fetch.TOFU_NAME}.*delete its entry"):
        get_features(manifest, cache)
    rejected = {p for p in cache_files(cache) if p.startswith(".rejected/")}  # the refused copy, kept
    assert [p.split("/")[-1].rsplit(".", 1)[0] for p in rejected] == [NORMAL]
    assert cache_files(cache) - rejected == feature_paths(set(files) - {NORMAL})  # nothing new installed


def test_unreadable_first_use_record(server, make_manifest, cache):
    server.route(ZIP_PATH, Reply(make_zip(folder_arrays())))
    manifest = make_manifest()
    get_features(manifest, cache)
    (cache / "features" / DS / fetch.TOFU_NAME).write_text("{oops")
    with pytest.raises(FetchError, match=rf"{fetch.TOFU_NAME}: cannot read the first-use record .*delete it"):
        get_features(manifest, cache)


def test_cli_verify_and_pin_use_the_first_use_record(server, make_manifest, cache, capsys):
    files = folder_arrays()
    server.route(ZIP_PATH, Reply(make_zip(files)))
    manifest = make_manifest()
    normal, _ = get_features(manifest, cache)
    normal.write_bytes(files[NORMAL][:-1] + b"\x01")
    args = ["--manifest", str(manifest), "--cache", str(cache), "--dataset", DS]
    assert main(["manifest", "verify", *args]) == 1
    expected = f"sha256: expected {sha(files[NORMAL])}, found {sha(normal.read_bytes())}"
    assert f"mismatch  features/{DS}/{NORMAL}  {expected}" in capsys.readouterr().out
    assert main(["manifest", "pin", *args]) == 1
    captured = capsys.readouterr()
    assert f"not pinned: features/{DS}/{NORMAL}: {expected}" in captured.err
    doc = json.loads(manifest.read_text())
    assert member(doc, NORMAL)["sha256"] is None and member(doc, ANOMALY)["sha256"] == sha(files[ANOMALY])


# ---------------------------------------------------------------- bad options


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(retries=-1), r"retries \(--retries\): expected an integer >= 0, found -1"),
        (dict(retries=1.5), r"retries \(--retries\): expected an integer >= 0, found 1\.5"),
        (dict(timeout=0), r"timeout \(--timeout\): expected finite seconds > 0, found 0"),
        (dict(timeout=float("nan")), r"timeout \(--timeout\): expected finite seconds > 0, found nan"),
        (dict(timeout=float("inf")), r"timeout \(--timeout\): expected finite seconds > 0, found inf"),
        (dict(mirror="ftp://example.org/x"), r"mirror \(--mirror\): expected an http:// or https:// base URL .*found 'ftp://example\.org/x'"),
        (dict(mirror="example.org/x"), r"mirror \(--mirror\): expected an http:// or https:// .*found 'example\.org/x'"),
        (dict(mirror="http://"), r"mirror \(--mirror\): expected an http:// or https:// .*found 'http://'"),
    ],
    ids=["retries-negative", "retries-float", "timeout-zero", "timeout-nan", "timeout-inf", "mirror-ftp", "mirror-no-scheme", "mirror-no-host"],
)
def test_bad_options_name_parameter_value_and_bound(server, make_manifest, cache, kw, match):
    with pytest.raises(InputError, match=match):
        get_features(make_manifest(), cache, **kw)
    assert server.requests() == 0 and cache_files(cache) == set()


def test_bad_mirror_from_env_names_the_variable(make_manifest, cache, monkeypatch):
    monkeypatch.setenv(fetch.MIRROR_ENV, "data.example.org")
    with pytest.raises(InputError, match=rf"mirror \(\${fetch.MIRROR_ENV}\): expected an http:// or https://"):
        fetch.options(cache)


@pytest.mark.parametrize("route", ["mirror", "zip"])
def test_download_that_produced_no_file_is_refused(server, make_manifest, cache, route):
    """Options built without options(): pooch with retries=-1 makes no attempt and writes nothing."""
    from anomaly_ref.data import manifest as mf

    server.route(ZIP_PATH, Reply(make_zip(folder_arrays())))
    art = mf.load(make_manifest()).artifact(f"features/{DS}")
    opts = fetch.Options(cache=cache, mirror=server.url("/m") if route == "mirror" else None, retries=-1)
    with pytest.raises(FetchError, match=r"the download from http://127\.0\.0\.1:\d+/.* produced no file; "
                                         r"nothing was written to the cache"):
        fetch.fetch_artifact(art, [art.member(NORMAL)], opts)
    assert server.requests() == 0 and cache_files(cache) == set()


@pytest.mark.parametrize("url", ["http://", "http://exa mple.org:99999/x"])
def test_malformed_url_is_not_called_a_sha256_mismatch(make_manifest, cache, url):
    def edit(doc):
        next(a for a in doc["artifacts"] if a["id"] == f"workbooks/{DS}")["url"] = url

    with pytest.raises(FetchError, match=rf"{re.escape(WB)}: cannot request {re.escape(url)!s}: .*; nothing was "
                                         r"written to the cache\. Fix the URL") as info:
        fetch.workbook(DS, cache=cache, manifest=make_manifest(edit), **FAST)
    assert "sha256" not in str(info.value) and cache_files(cache) == set()


# ---------------------------------------------------------------- zip bombs


@pytest.mark.parametrize("known", ["rows", "pinned-size", "default-cap"])
def test_zip_member_larger_than_its_bound_is_refused(server, make_manifest, cache, monkeypatch, known):
    from anomaly_ref.data import integrity

    big = b"\x00" * (4 << 20)  # 4 MiB of zeros: a few KiB compressed
    server.route(ZIP_PATH, Reply(make_zip({**folder_arrays(), NORMAL: big})))
    edit, bound = None, None
    if known == "rows":
        edit = lambda doc: member(doc, NORMAL).__setitem__("rows", ROWS)  # noqa: E731
        bound = rf"{ROWS * 768 * 4 + integrity.NPY_HEADER_SLACK} allowed \(rows x dim x 4 bytes \+ header\)"
    elif known == "pinned-size":
        edit = lambda doc: member(doc, NORMAL).update(sha256=sha(b"x"), size=1000)  # noqa: E731
        bound = r"1000 allowed \(its pinned size\)"
    else:
        monkeypatch.setattr(integrity, "MAX_MEMBER_BYTES", 1 << 20)
        bound = rf"{1 << 20} allowed \(the limit for members of unknown size\)"
    with pytest.raises(FetchError, match=rf"entry '{NORMAL}' would unpack to {len(big)} bytes, more than the {bound}; "
                                         r"refusing the whole archive"):
        get_features(make_manifest(edit), cache)
    assert cache_files(cache) == set()


# ---------------------------------------------------------------- CLI


def test_cli_fetch_success_and_verify(server, make_manifest, cache, wb_bytes, capsys):
    server.route(ZIP_PATH, Reply(make_zip(folder_arrays())))
    server.route(WB_ROUTE, Reply(wb_bytes))
    manifest = str(make_manifest())
    rc = main(["fetch", "--dataset", DS, "--backbone", EXTRACTOR, "--manifest", manifest,
               "--cache", str(cache), "--retries", "0", "--no-progress"])
    out = capsys.readouterr().out.splitlines()
    assert rc == 0 and out == [str(cache / "features" / DS / NORMAL), str(cache / "features" / DS / ANOMALY),
                               str(cache / "workbooks" / DS / WB)]
    rc = main(["manifest", "verify", "--manifest", manifest, "--cache", str(cache), "--dataset", DS])
    out = capsys.readouterr().out
    assert rc == 0 and f"ok        workbooks/{DS}/{WB}" in out and f"unpinned  features/{DS}/{NORMAL}" in out


def test_cli_offline_empty_cache(make_manifest, cache, capsys):
    rc = main(["fetch", "--dataset", DS, "--manifest", str(make_manifest()), "--cache", str(cache), "--offline"])
    err = capsys.readouterr().err
    assert rc == 2 and "offline and 12 file(s) missing" in err and NORMAL in err and ANOMALY in err
    assert cache_files(cache) == set()


def test_cli_bad_retries_is_one_error_line(make_manifest, cache, capsys):
    rc = main(["fetch", "--dataset", DS, "--manifest", str(make_manifest()), "--cache", str(cache), "--retries", "-1"])
    err = capsys.readouterr().err
    assert rc == 2 and err == ("error: retries (--retries): expected an integer >= 0, found -1; it counts the "
                               "extra attempts after the first (0: one attempt)\n")


def test_cli_download_fault_is_one_error_line(server, make_manifest, cache, capsys, monkeypatch):
    import sys

    import pooch

    for handler in pooch.get_logger().handlers:  # as in a real run: pooch's handler writes to stderr
        monkeypatch.setattr(handler, "stream", sys.stderr)
    server.route(WB_ROUTE, Reply(b"gone", status=404))
    rc = main(["fetch", "--dataset", DS, "--only", "workbook", "--manifest", str(make_manifest()),
               "--cache", str(cache), "--retries", "0"])
    err = capsys.readouterr().err
    assert rc == 2 and server.requests() == 1
    assert re.fullmatch(r"error: [^\n]*HTTP 404 from [^\n]*\n", err), err


@pytest.mark.parametrize(
    "extra, match",
    [
        (["--mirror", "MIRROR"], rf"HTTP 404 from http://127\.0\.0\.1:\d+/m/features/{DS}/{NORMAL} after 1 attempt"),
        (["--offline"], r"offline and 2 file\(s\) missing"),
        (["--require-pinned"], rf"{NORMAL}, {ANOMALY} not pinned"),
        (["--retries", "-1"], r"retries \(--retries\): expected an integer >= 0, found -1"),
        (["--timeout", "0"], r"timeout \(--timeout\): expected finite seconds > 0, found 0\.0"),
    ],
    ids=["mirror", "offline", "require-pinned", "retries", "timeout"],
)
def test_cli_reproduce_passes_the_download_options(server, make_manifest, cache, capsys, extra, match):
    """The options fetch's errors advise exist on 'reproduce' too and reach fetch.features."""
    extra = [server.url("/m") if a == "MIRROR" else a for a in extra]
    rc = main(["reproduce", "--dataset", DS, "--extractor", EXTRACTOR, "--manifest", str(make_manifest()),
               "--cache", str(cache), "--retries", "0", *extra])
    err = capsys.readouterr().err
    assert rc == 2 and re.fullmatch(rf"error: [^\n]*{match}[^\n]*\n", err), err
    assert server.requests(ZIP_PATH) == 0 and cache_files(cache) == set()


def test_cli_require_pinned(server, make_manifest, cache, capsys):
    rc = main(["fetch", "--dataset", DS, "--only", "features", "--manifest", str(make_manifest()),
               "--cache", str(cache), "--require-pinned"])
    assert rc == 2 and "not pinned" in capsys.readouterr().err
    assert server.requests() == 0 and cache_files(cache) == set()


def test_cli_pin_then_verify_detects_tampering(server, make_manifest, cache, capsys):
    files = folder_arrays()
    server.route(ZIP_PATH, Reply(make_zip(files)))
    manifest = make_manifest()
    get_features(manifest, cache)
    assert main(["manifest", "pin", "--manifest", str(manifest), "--cache", str(cache)]) == 0
    doc = json.loads(manifest.read_text())
    assert member(doc, NORMAL)["sha256"] == sha(files[NORMAL]) and member(doc, NORMAL)["size"] == len(files[NORMAL])
    assert f"pinned features/{DS}/{NORMAL} {sha(files[NORMAL])}" in capsys.readouterr().out
    # pinned now: --require-pinned works offline from the cache
    assert main(["fetch", "--dataset", DS, "--only", "features", "--manifest", str(manifest),
                 "--cache", str(cache), "--offline", "--require-pinned"]) == 0
    capsys.readouterr()
    bad = cache / "features" / DS / NORMAL
    bad.write_bytes(files[NORMAL][:-1] + b"\x01")
    rc = main(["manifest", "verify", "--manifest", str(manifest), "--cache", str(cache), "--dataset", DS])
    out = capsys.readouterr().out
    assert rc == 1
    assert f"mismatch  features/{DS}/{NORMAL}  sha256: expected {sha(files[NORMAL])}, found {sha(bad.read_bytes())}" in out
    assert f"missing   workbooks/{DS}/{WB}" in out


def test_unknown_names_list_the_valid_ones(make_manifest, cache):
    from anomaly_ref.errors import ManifestError, UnknownNameError

    with pytest.raises(UnknownNameError, match=r"unknown dataset 'ped3'; valid: avenue, ped1, ped2, umn"):
        fetch.features("ped3", EXTRACTOR, cache=cache, manifest=make_manifest())
    outside = next(b.name for b in registry.BACKBONES.values() if not b.in_paper)
    with pytest.raises(ManifestError, match=rf"features/{DS}: no normal member for extractor '{outside}'; listed extractors: "):
        fetch.features(DS, outside, cache=cache, manifest=make_manifest())
    assert cache_files(cache) == set()
