"""The bench's per-case result records, and their merge into one sweep file.

Each finished case of the reproduction bench writes ``<report_dir>/cases/<case-id>.json``
on its own, atomically: a sweep document (kind ``sweep``) of that one case. Processes never
write one another's files, so ``pytest bench -n N`` (pytest-xdist) is safe, and a worker that
crashes or is interrupted still leaves the cases it finished. :func:`merge` rebuilds
``reproduce.json``/``.md`` (kind ``sweep``) from every record, in registry order, so the merged
file is the same whatever the number or the scheduling of processes. ``anomaly-ref report``
reads the records folder as well (a folder stands for its ``*.json`` files).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Sequence

from .. import registry
from ..errors import InputError
from ..fileio import atomic_write_text, dumps_json
from .report import Row, summary_counts, write

FOLDER = "cases"


def folder(report_dir: str | Path) -> Path:
    return Path(report_dir) / FOLDER


def case_id(dataset: str, extractor: str, head: str) -> str:
    return f"{dataset}-{extractor}-{head}"


def write_case(report_dir: str | Path, result: Mapping[str, Any], rows: Sequence[Row],
               provenance: Mapping[str, Any]) -> Path:
    """One case's record (its result entry as ``reproduce --out`` writes it, with the dataset
    and extractor; its verdict rows; its provenance), replacing an earlier record of the case."""
    from dataclasses import asdict

    out = folder(report_dir)
    out.mkdir(parents=True, exist_ok=True)
    doc = {"kind": "sweep", "results": [dict(result)], "counts": summary_counts(rows),
           "rows": [asdict(r) for r in rows], "provenance": dict(provenance)}
    return atomic_write_text(out / f"{case_id(result['dataset'], result['extractor'], result['head'])}.json",
                             dumps_json(doc))


def clear(report_dir: str | Path) -> None:
    """Remove the records of an earlier session (a session's report covers the cases it ran,
    as ``reproduce.json`` always did)."""
    for path in folder(report_dir).glob("*.json"):
        path.unlink(missing_ok=True)


def _rank(result: Mapping[str, Any]) -> tuple:
    tables = (registry.DATASETS, registry.BACKBONES, registry.HEADS)
    keys = (result.get("dataset"), result.get("extractor"), result.get("head"))
    return tuple(list(t).index(k) if k in t else len(t) for t, k in zip(tables, keys))


def merge(report_dir: str | Path, stem: str = "reproduce") -> Path | None:
    """``<stem>.json``/``.md`` under ``report_dir`` from every record in its ``cases`` folder
    (None if there is none). The provenance is the records' (they share config and seeds),
    with the inputs of all of them."""
    docs = []
    for path in sorted(folder(report_dir).glob("*.json")):
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            docs.append((_rank(doc["results"][0]), doc))
        except (OSError, ValueError, KeyError, IndexError, TypeError) as exc:
            raise InputError(f"{path}: not a case record of the bench ({type(exc).__name__}: {exc})") from None
    if not docs:
        return None
    docs.sort(key=lambda d: d[0])
    rows = [Row(**{**r, **{k: tuple(r[k]) for k in ("ours", "paper") if r.get(k) is not None}})
            for _, d in docs for r in d["rows"]]
    inputs: dict[str, str] = {}
    for _, d in docs:
        inputs.update(d["provenance"].get("inputs") or {})
    provenance = {**docs[0][1]["provenance"], "inputs": dict(sorted(inputs.items())), "records": len(docs)}
    js, _ = write(rows, report_dir, stem, provenance,
                  extra={"kind": "sweep", "results": [d["results"][0] for _, d in docs]})
    return js


def expand(paths: Sequence[str | Path]) -> list[str]:
    """Result-file arguments with each folder replaced by its ``*.json`` files, sorted."""
    out: list[str] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(p.glob("*.json"))
            if not found:
                raise InputError(f"{p}: a folder with no *.json result files")
            out.extend(map(str, found))
        else:
            out.append(str(p))
    return out
