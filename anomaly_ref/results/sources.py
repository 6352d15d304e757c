"""Result files of every kind the suite writes, read into one shape for the report.

A result file names its kind in a top-level ``"kind"`` field; files written before that
field existed are recognised by their top-level keys. :data:`KINDS` is the registry: a
kind is a name, the keys that identify its older files, and a loader that turns the
document into :class:`Loaded` (configurations for the comparison matrix, plus a section of
its own for the report, rendered by the template block named after the kind).

========== ============================================= ==========================================
kind       written by                                    older files (no ``kind``) have the keys
========== ============================================= ==========================================
reproduce  ``anomaly-ref reproduce --out``               ``results``, ``provenance``
sweep      the bench (``bench/test_reproduce.py``)       ``counts``, ``rows``, ``provenance``
           and each of its per-case records (``cases/``)
audit      ``anomaly-ref audit`` (``audit.json``)        ``audit``, ``results``, ``provenance``
gradcam    ``anomaly-ref gradcam`` (``gradcam.json``)    (always declares its kind)
========== ============================================= ==========================================

Adding a kind: write ``load(doc, ctx) -> Loaded``, :func:`register` a :class:`Kind`, and
give its ``section`` a block in ``report_html.context`` and the template (as ``audit`` and
``gradcam`` have).

Two files that report the same configuration (dataset, extractor, head, protocol) must
agree: every metric mean and std within :data:`SAME` (float rounding; the batched and
sequential trainers agree run for run to this). Files that agree are merged, both named
as sources; files that disagree are refused (:class:`InputError` naming both files, the
configuration and the first metric that differs), because no rule can say which of two
different runs is "the" result: drop one file, or report them separately.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from .. import registry
from ..data.featurefiles import backbone_of
from ..errors import InputError
from ..fileio import sha256_file

SAME = 1e-6  # two files' means/stds closer than this are the same figure (float rounding)


@dataclass(frozen=True)
class Entry:
    """One configuration's outcome: its summary (``{metric: (mean, std)}``) and per-run
    metrics, or why it has none (``error``: it failed; ``not_run``: it was never trained)."""

    dataset: str
    extractor: str
    head: str
    protocol: str
    summary: Mapping[str, tuple[float, float]] | None = None
    runs: tuple[Mapping[str, Any], ...] = ()  # {"run", "split_seed", "model_seed", "metrics": {...}}
    error: str | None = None
    not_run: bool = False
    sources: tuple[str, ...] = ()  # the files that report it
    construction: str | None = None  # "paper" | "frames" where the file says (reproduce --out)

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.dataset, self.extractor, self.head, self.protocol)


@dataclass
class Loaded:
    """One result file, read."""

    path: Path
    kind: str
    sha256: str
    provenance: Mapping[str, Any]
    entries: list[Entry] = field(default_factory=list)
    section: Any = None  # the kind's own part of the report (the audit document, a summary, ...)
    title: str = ""


@dataclass(frozen=True)
class Context:
    """What a loader may need besides the document: the file, and the names to assume for
    older reproduce files that do not record their dataset or extractor."""

    path: Path
    dataset: str | None = None
    extractor: str | None = None

    def error(self, what: str) -> InputError:
        return InputError(f"{self.path}: {what}")


@dataclass(frozen=True)
class Kind:
    name: str
    legacy_keys: frozenset[str] | None  # exact top-level keys of files written before "kind"
    load: Callable[[Mapping[str, Any], Context], Loaded]
    description: str


KINDS: dict[str, Kind] = {}


def register(kind: Kind) -> Kind:
    KINDS[kind.name] = kind
    return kind


# ------------------------------------------------------------------------ helpers


def _num(x: Any, ctx: Context, where: str) -> float:
    if x is None:  # NaN written as null by dumps_json
        return math.nan
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise ctx.error(f"{where}: expected a number, found {x!r}")
    return float(x)


def _summary(raw: Any, ctx: Context, where: str) -> dict[str, tuple[float, float]]:
    if not isinstance(raw, Mapping):
        raise ctx.error(f"{where}: 'summary' must be an object of metrics, found {type(raw).__name__}")
    missing = [m for m in registry.METRICS if m not in raw]
    if missing:
        raise ctx.error(f"{where}: summary lacks {', '.join(missing)}")
    out = {}
    for m in registry.METRICS:
        v = raw[m]
        if not isinstance(v, Mapping) or "mean" not in v or "std" not in v:
            raise ctx.error(f"{where}: summary[{m!r}] must be {{'mean': ..., 'std': ...}}, found {v!r}")
        out[m] = (_num(v["mean"], ctx, f"{where}: summary[{m!r}].mean"), _num(v["std"], ctx, f"{where}: summary[{m!r}].std"))
    return out


def _name(table: Mapping[str, Any], value: Any, what: str, ctx: Context, where: str) -> str:
    if value not in table:
        raise ctx.error(f"{where}: unknown {what} {value!r}; valid: {', '.join(table)}")
    return value


def _require(doc: Mapping[str, Any], keys: Sequence[str], ctx: Context, kind: str) -> None:
    missing = [k for k in keys if k not in doc]
    if missing:
        raise ctx.error(f"a {kind} result file needs the top-level key(s) {', '.join(map(repr, missing))}")


def _extractor_from_inputs(prov: Mapping[str, Any]) -> str | None:
    """The backbone named by the paper's feature-file names among the inputs, if one."""
    names = {b for p in (prov.get("inputs") or {}) if (b := backbone_of(p))}
    return names.pop() if len(names) == 1 else None


def _result_entry(e: Any, i: int, ctx: Context, dataset: str | None, extractor: str | None) -> Entry:
    """A ``ProtocolResult.to_dict()`` entry (plus ``dataset``/``extractor``), or an entry
    with ``error`` (and ``not_run``) for a configuration that has no result."""
    where = f"results[{i}]"
    if not isinstance(e, Mapping):
        raise ctx.error(f"{where}: expected an object, found {type(e).__name__}")
    dataset = e.get("dataset") or dataset
    extractor = e.get("extractor") or extractor
    if not dataset:
        raise ctx.error(f"{where}: names no dataset (written before result files recorded it): "
                        "give --dataset for such files")
    if not extractor:
        raise ctx.error(f"{where}: names no extractor and its inputs do not say: give --backbone for such files")
    for k in ("head", "protocol"):
        if k not in e:
            raise ctx.error(f"{where}: missing key {k!r}")
    keys = dict(
        dataset=_name(registry.DATASETS, dataset, "dataset", ctx, where),
        extractor=_name(registry.BACKBONES, extractor, "extractor", ctx, where),
        head=_name(registry.HEADS, e["head"], "head", ctx, where),
        protocol=_name(registry.PROTOCOLS, e["protocol"], "protocol", ctx, where),
        sources=(str(ctx.path),),
    )
    if e.get("error") is not None:
        return Entry(**keys, error=str(e["error"]), not_run=bool(e.get("not_run", False)))
    if "summary" not in e:
        raise ctx.error(f"{where}: has neither 'summary' nor 'error'")
    runs = e.get("runs") or []
    if not isinstance(runs, list) or not all(isinstance(r, Mapping) and isinstance(r.get("metrics"), Mapping) for r in runs):
        raise ctx.error(f"{where}: 'runs' must be a list of objects with 'metrics'")
    return Entry(**keys, summary=_summary(e["summary"], ctx, where), runs=tuple(runs))


def _results(doc: Mapping[str, Any], ctx: Context, dataset: str | None, extractor: str | None) -> list[Entry]:
    if not isinstance(doc["results"], list):
        raise ctx.error(f"'results' must be a list, found {type(doc['results']).__name__}")
    return [_result_entry(e, i, ctx, dataset, extractor) for i, e in enumerate(doc["results"])]


def _provenance(doc: Mapping[str, Any], ctx: Context) -> Mapping[str, Any]:
    prov = doc["provenance"]
    if not isinstance(prov, Mapping):
        raise ctx.error(f"'provenance' must be an object, found {type(prov).__name__}")
    return prov


# ------------------------------------------------------------------------ the kinds


def _load_reproduce(doc: Mapping[str, Any], ctx: Context) -> Loaded:
    _require(doc, ("results", "provenance"), ctx, "reproduce")
    prov = _provenance(doc, ctx)
    dataset = doc.get("dataset") or ctx.dataset
    extractor = doc.get("extractor") or _extractor_from_inputs(prov) or ctx.extractor
    entries = _results(doc, ctx, dataset, extractor)
    if doc.get("construction") is not None:
        entries = [replace(e, construction=str(doc["construction"])) for e in entries]
    return Loaded(ctx.path, "reproduce", "", prov, entries, title="anomaly-ref reproduce")


def _load_sweep(doc: Mapping[str, Any], ctx: Context) -> Loaded:
    _require(doc, ("provenance",), ctx, "sweep")
    prov = _provenance(doc, ctx)
    if "results" in doc:
        entries = _results(doc, ctx, None, None)
    else:  # written before the sweep kept its results: rebuild each case from its rows
        _require(doc, ("rows",), ctx, "sweep")
        entries = _entries_from_rows(doc["rows"], ctx, (prov.get("config") or {}).get("protocol", "paper"))
    return Loaded(ctx.path, "sweep", "", prov, entries, title="reproduction bench")


def _entries_from_rows(rows: Any, ctx: Context, protocol: str) -> list[Entry]:
    if not isinstance(rows, list):
        raise ctx.error("'rows' must be a list")
    cases: dict[tuple, dict] = {}
    for i, r in enumerate(rows):
        where = f"rows[{i}]"
        if not isinstance(r, Mapping) or not all(k in r for k in ("dataset", "extractor", "head")):
            raise ctx.error(f"{where}: expected an object with dataset, extractor, head")
        case = cases.setdefault((r["dataset"], r["extractor"], r["head"]), {"summary": {}, "error": None})
        if r.get("error"):
            case["error"] = str(r["error"])
        elif isinstance(r.get("ours"), list) and len(r["ours"]) == 2 and r.get("metric") in registry.METRICS:
            case["summary"][r["metric"]] = {"mean": r["ours"][0], "std": r["ours"][1]}
        else:
            raise ctx.error(f"{where}: expected 'error', or 'metric' and 'ours' [mean, std]")
    results = [{"dataset": d, "extractor": x, "head": h, "protocol": protocol,
                **({"error": c["error"]} if c["error"] else {"summary": c["summary"]})}
               for (d, x, h), c in cases.items()]
    return _results({"results": results}, ctx, None, None)


def _load_audit(doc: Mapping[str, Any], ctx: Context) -> Loaded:
    from .audit_report import title, validate

    _require(doc, ("audit", "results", "provenance"), ctx, "audit")
    try:
        audit = validate(doc)  # the keys its renderers need
        name = title(doc)
    except (InputError, KeyError) as exc:
        raise ctx.error(str(exc)) from None
    _name(registry.DATASETS, audit["dataset"], "dataset", ctx, "audit")
    # The audit's rungs are its own section (the ladder), not cells of the paper comparison:
    # only the `paper` rung is the paper's configuration, and it is shown in the ladder.
    return Loaded(ctx.path, "audit", "", _provenance(doc, ctx), [], section=doc, title=f"leakage audit: {name}")


def _load_gradcam(doc: Mapping[str, Any], ctx: Context) -> Loaded:
    """``anomaly-ref gradcam``'s document: no configurations of the paper's table, a section of
    its own (the localisation scores beside the baselines, and the two formulas' difference)."""
    _require(doc, ("config", "summary", "provenance"), ctx, "gradcam")
    summary = doc["summary"]
    if not isinstance(summary, Mapping) or not all(
            isinstance(row, Mapping) and {"kind", "n"} <= set(row) for row in summary.values()):
        raise ctx.error("'summary' must map each method to its scores (with 'kind' and 'n')")
    cfg = doc["config"] if isinstance(doc["config"], Mapping) else {}
    title = f"Grad-CAM++ localisation: {cfg.get('backbone', '?')} ({cfg.get('weights', 'weights unknown')})"
    return Loaded(ctx.path, "gradcam", "", _provenance(doc, ctx), [], section=dict(doc), title=title)


def _load_standard(doc: Mapping[str, Any], ctx: Context) -> Loaded:
    """``anomaly-ref standard``'s document (issue 23): no configurations of the paper's table, a
    section of its own ("what these features can honestly do")."""
    _require(doc, ("dataset", "backbone", "scorers", "provenance", "config", "frames"), ctx, "standard")
    if not isinstance(doc["scorers"], Mapping) or not doc["scorers"]:
        raise ctx.error("'scorers' must map each scorer to its figures")
    for name, row in doc["scorers"].items():  # what the renderers read, checked here: one line, not a traceback
        for variant in ("raw", "smoothed"):
            fig = row.get(variant) if isinstance(row, Mapping) else None
            if variant == "smoothed" and fig is None:
                continue
            if not (isinstance(fig, Mapping) and all(isinstance(fig.get(k), Mapping) and "estimate" in fig[k]
                                                     for k in ("pooled_auc", "mean_clip_auc"))):
                raise ctx.error(f"scorers[{name!r}].{variant}: expected pooled_auc and mean_clip_auc, each with "
                                "an 'estimate'")
    smooth = doc["config"].get("smooth") if isinstance(doc["config"], Mapping) else None
    if isinstance(smooth, bool) or not isinstance(smooth, (int, float)):
        raise ctx.error(f"config.smooth: expected a number of frames, found {smooth!r}")
    _name(registry.DATASETS, doc["dataset"], "dataset", ctx, "standard")
    title = f"what these features can honestly do: {doc['dataset']}, {doc['backbone']}"
    return Loaded(ctx.path, "standard", "", _provenance(doc, ctx), [], section=dict(doc), title=title)


register(Kind("reproduce", frozenset({"results", "provenance"}), _load_reproduce, "anomaly-ref reproduce --out"))
register(Kind("sweep", frozenset({"counts", "rows", "provenance"}), _load_sweep, "the reproduction bench"))
register(Kind("audit", frozenset({"audit", "results", "provenance"}), _load_audit, "anomaly-ref audit"))
register(Kind("gradcam", None, _load_gradcam, "anomaly-ref gradcam (gradcam.json)"))
register(Kind("standard", None, _load_standard, "anomaly-ref standard (standard.json)"))


# ------------------------------------------------------------------------ reading files


def kind_of(doc: Any, ctx: Context) -> Kind:
    if not isinstance(doc, Mapping):
        raise ctx.error(f"not a result file: the top level is a JSON {type(doc).__name__}, not an object")
    if "kind" in doc:
        return KINDS[_name(KINDS, doc["kind"], "result kind", ctx, "'kind'")]
    keys = frozenset(k for k in doc if k != "kind")
    for kind in KINDS.values():
        if kind.legacy_keys == keys:
            return kind
    raise ctx.error(f"unknown kind of result file: no 'kind' field, and its top-level keys {sorted(keys)} "
                    f"match none of: " + "; ".join(f"{k.name} {sorted(k.legacy_keys)}" for k in KINDS.values()
                                                  if k.legacy_keys))


def load(path: str | Path, dataset: str | None = None, extractor: str | None = None) -> Loaded:
    """Read one result file; :class:`InputError` naming the file for anything wrong with it."""
    path = Path(path)
    ctx = Context(path, dataset, extractor)
    if not path.is_file():
        raise ctx.error("no such file (or not a regular file)")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ctx.error(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise ctx.error(f"not valid JSON (truncated or damaged?): {exc.msg} at line {exc.lineno}, column {exc.colno}") from None
    loaded = kind_of(doc, ctx).load(doc, ctx)
    loaded.sha256 = sha256_file(path)
    return loaded


def merge(files: Sequence[Loaded]) -> list[Entry]:
    """Every configuration of ``files`` once, in registry order; see the module doc for
    two files reporting the same configuration."""
    seen: dict[tuple, Entry] = {}
    for f in files:
        for e in f.entries:
            old = seen.get(e.key)
            if old is None:
                seen[e.key] = e
                continue
            if old.sources == e.sources:
                raise InputError(f"{f.path}: reports {'/'.join(e.key)} twice")
            if old.construction and e.construction and old.construction != e.construction:
                raise InputError(
                    f"{f.path} and {old.sources[0]} report {'/'.join(e.key)} on different constructions of the "
                    f"dataset ({e.construction} vs {old.construction}); they are not the same configuration: "
                    "build one report per construction")
            why = _disagreement(old, e)
            if why:
                raise InputError(
                    f"{f.path} and {old.sources[0]} disagree on {'/'.join(e.key)}: {why}; "
                    "the report refuses to choose: give one of them, or build two reports")
            seen[e.key] = replace(old, sources=old.sources + e.sources, runs=old.runs or e.runs)
    rank = [{k: i for i, k in enumerate(t)} for t in
            (registry.DATASETS, registry.BACKBONES, registry.HEADS, registry.PROTOCOLS)]
    return sorted(seen.values(), key=lambda e: tuple(r[k] for r, k in zip(rank, e.key)))


def _disagreement(a: Entry, b: Entry) -> str | None:
    if (a.summary is None) != (b.summary is None):
        ok, bad = (a, b) if a.summary is not None else (b, a)
        return f"{ok.sources[0]} has results, {bad.sources[0]} says it failed ({bad.error})"
    if a.summary is None:
        return None if a.error == b.error else f"different errors ({a.error!r} vs {b.error!r})"
    for m in registry.METRICS:
        for k, what in enumerate(("mean", "std")):
            x, y = a.summary[m][k], b.summary[m][k]
            if not (abs(x - y) <= SAME or (math.isnan(x) and math.isnan(y))):
                return f"{m} {what} {x:.6f} vs {y:.6f}"
    return None
