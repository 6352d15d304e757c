"""Two audits compared on one rung: a paired clip bootstrap over the test clips both score,
and every factor that differs between the two named.

Two audits' figures side by side (with and without early stopping; the paper's
construction against the plain test set) are two marginal figures whose intervals overlap
mostly because both carry the clip-to-clip spread. Scored on the same clips, one clip draw
applied to both sides removes that shared spread, so the difference gets its own interval.
The difference measures everything that differs between the two audits: the document
lists it (configuration, partitions, construction, code), and the reading claims no more.

In: two audit folders (format 2, each with its ``scores.csv.gz``). Only original frames of
test clips are compared (copies and Train-clip frames never count), clip ids matched across
naming schemes (``Test011`` and ``11`` are one clip). Out: one document (``audit-pair``).
"""

from __future__ import annotations

import re
from dataclasses import asdict
from typing import Any

import numpy as np

from .. import provenance
from ..errors import InputError
from ..protocol import stats
from ..registry import paper_heads
from .audit_files import read_kept
from .audit_stats import HEADLINE, StatsConfig

# Where files were read or written, not what was computed: not a factor of the difference.
NOT_FACTORS = {"source", "train_source", "cache", "out"}


def clip_id(clip: str) -> str:
    """One id per test clip across naming schemes: ``Test011`` -> ``11``, ``011`` -> ``11``."""
    m = re.fullmatch(r"(?:Test)?0*(\d+)", str(clip))
    return str(int(m.group(1))) if m else str(clip)


def _flat(d: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(d, dict):
        return {prefix: d}
    out: dict[str, Any] = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


def _scores(table, rung: str, head: str) -> stats.Scores | None:
    part = table[(table["rung"] == rung) & (table["head"] == head) & (table["copy"] == "original")
                 & (table["origin"] == "test")]
    if part.empty:
        return None
    return stats.Scores(part["run"].to_numpy(), part["fold"].to_numpy(),
                        np.array([clip_id(c) for c in part["clip"]]), part["frame"].to_numpy(),
                        part["label"].to_numpy(), part["score"].to_numpy(np.float64))


def _partition(doc: dict, rung: str) -> list | None:
    """The rung's recorded partitions, clip ids unified and every fold and run order-free."""
    runs = (doc["audit"].get("partitions") or {}).get(rung)
    if runs is None:
        return None
    return [sorted(sorted(clip_id(c) for c in fold) for fold in run) for run in runs]


# Config keys that cannot change a supervised rung's scores: what else the audit ran, how its
# statistics and probes were taken, the one-class scorers; dataset / backbone / pretrained are
# compared once, from the audit record.
NOT_SCORE_CONFIG = ("audit.protocols", "audit.heads", "audit.scorers", "rungs", "audit.stats", "audit.probes",
                    "audit.oneclass", "dataset", "backbone", "pretrained")


def _differs(out: list, factor: str, va: Any, vb: Any) -> None:
    if va != vb:
        out.append({"factor": factor, "a": va, "b": vb})


def factors(a: dict, b: dict, rung_a: str, rung_b: str) -> list[dict[str, Any]]:
    """Every recorded factor that can change the scores of ``rung_a`` in audit ``a`` or
    ``rung_b`` in ``b`` and whose value differs between them."""
    out: list[dict[str, Any]] = []
    _differs(out, "rung", rung_a, rung_b)
    pa_, pb_ = a["provenance"], b["provenance"]
    fa, fb = _flat(pa_.get("config") or {}), _flat(pb_.get("config") or {})
    for key in sorted(set(fa) | set(fb)):
        if key.split(".")[-1] in NOT_FACTORS or key.startswith(NOT_SCORE_CONFIG):
            continue
        _differs(out, f"config {key}", fa.get(key), fb.get(key))
    for key in ("dataset", "backbone", "pretrained", "n_frames", "n_train_frames"):
        _differs(out, key, a["audit"].get(key), b["audit"].get(key))
    _differs(out, "construction (training rows: copies, Train-clip frames)", a["audit"].get("construction"),
             b["audit"].get("construction"))
    pa, pb = _partition(a, rung_a), _partition(b, rung_b)
    if pa != pb:
        out.append({"factor": "clip partitions (which clips share a fold; so which models score which clip)",
                    "a": "recorded" if pa else None, "b": "recorded" if pb else None})
    _differs(out, "seeds of the rung", (pa_.get("seeds") or {}).get(rung_a), (pb_.get("seeds") or {}).get(rung_b))
    for key in ("features", "train_features"):  # the extraction's content key: same frames, same backbone
        _differs(out, f"{key} (extraction cache key)", (a["audit"].get(key) or {}).get("key"),
                 (b["audit"].get(key) or {}).get("key"))
    ia, ib = (sorted((d["provenance"].get("inputs") or {}).values()) for d in (a, b))
    if ia != ib:  # the frames or features each audit read (its construction, its extraction)
        out.append({"factor": "input files (sha256, first 12 hex digits)", "a": [h[:12] for h in ia],
                    "b": [h[:12] for h in ib]})
    ga, gb = pa_.get("git") or {}, pb_.get("git") or {}
    _differs(out, "code (git commit of the run)", ga.get("commit"), gb.get("commit"))
    _differs(out, "uncommitted changes in the run's tree (git dirty)", ga.get("dirty"), gb.get("dirty"))
    va, vb = _flat(pa_.get("versions") or {}), _flat(pb_.get("versions") or {})
    for key in sorted(set(va) | set(vb)):
        _differs(out, f"version of {key}", va.get(key), vb.get(key))
    da, db = _flat(pa_.get("device") or {}), _flat(pb_.get("device") or {})
    for key in sorted(set(da) | set(db)):
        _differs(out, f"device {key}", da.get(key), db.get(key))
    return out


def _with_reading(d: stats.Difference) -> dict[str, Any]:
    """``d`` as a dict with what says how far to trust its percentile interval: the bootstrap
    mean (its distance from the estimate is the resampling bias) and the basic interval
    (``2 estimate - q``); ``fragile`` when the two intervals disagree on excluding 0."""
    ok = d.distribution[np.isfinite(d.distribution)]
    basic = (2 * d.difference - d.high, 2 * d.difference - d.low)
    excludes = lambda lo, hi: bool(lo > 0 or hi < 0)  # noqa: E731
    return d.to_dict() | {"bootstrap_mean": float(np.mean(ok)) if len(ok) else float("nan"),
                          "basic_low": float(basic[0]), "basic_high": float(basic[1]),
                          "fragile": excludes(d.low, d.high) != excludes(*basic)}


def _check_clips(kept, rung: str) -> None:
    """Clip ids of ``kept``'s test frames map one to one onto unified ids (two names of one
    audit never merge into one clip)."""
    part = kept.table[(kept.table["rung"] == rung) & (kept.table["origin"] == "test")]
    seen: dict[str, str] = {}
    for raw in part["clip"].unique():
        unified = clip_id(raw)
        if seen.setdefault(unified, raw) != raw:
            raise InputError(f"{kept.scores}: test clips {seen[unified]!r} and {raw!r} would both read as clip "
                             f"{unified!r}; audit-diff cannot pair this audit's clips")


def _check_labels(a_scores: stats.Scores, b_scores: stats.Scores, a_path, b_path) -> None:
    """The frames both sides score carry the same labels (else they are not the same video)."""
    la = dict(zip(zip(a_scores.clip.tolist(), a_scores.index.tolist()), a_scores.label.tolist()))
    bad = sorted({(c, f) for c, f, y in zip(b_scores.clip.tolist(), b_scores.index.tolist(), b_scores.label.tolist())
                  if (c, f) in la and la[(c, f)] != y})  # a frame is scored once per run: count it once
    if bad:
        raise InputError(f"{a_path} and {b_path} label {len(bad)} shared frames differently (first: clip {bad[0][0]} "
                         f"frame {bad[0][1]}); they are not audits of the same test video")


def _per_run(ta: stats.Scores, tb: stats.Scores) -> dict[int, float]:
    """Run r of ``a`` minus run r of ``b`` for the runs both made: how much the difference
    moves from one partition and model seed to the next."""
    ra, rb = stats.per_run(ta, HEADLINE), stats.per_run(tb, HEADLINE)
    return {int(r): float(ra[r] - rb[r]) for r in ra if r in rb}


def compare(folder_a, folder_b, *, rung: str = "strict", rung_b: str | None = None,
            config: StatsConfig = StatsConfig()) -> dict[str, Any]:
    """Audit ``folder_a`` minus audit ``folder_b`` on ``rung`` (``rung_b`` for ``b``, default the
    same): for each of the paper's recurrent heads both ran there and for their mean, the
    difference of the mean per-fold ROC-AUC over the test clips both score, with a paired
    clip-bootstrap interval (one draw for both sides and every head)."""
    rung_b = rung_b or rung
    a, b = read_kept(folder_a), read_kept(folder_b)
    if a.doc["audit"].get("dataset") != b.doc["audit"].get("dataset"):
        raise InputError(f"{a.path} audits {a.doc['audit'].get('dataset')!r} and {b.path} "
                         f"{b.doc['audit'].get('dataset')!r}: audit-diff pairs test clips of one dataset")
    _check_clips(a, rung)
    _check_clips(b, rung_b)
    tables, heads = {}, []
    for h in paper_heads():
        ta, tb = _scores(a.table, rung, h), _scores(b.table, rung_b, h)
        if ta is not None and tb is not None:
            tables[h] = (ta, tb)
            heads.append(h)
    if not heads:
        raise InputError(f"no recurrent head of the paper scored test frames under '{rung}' in {a.scores} and under "
                         f"'{rung_b}' in {b.scores}; name a rung both audits ran (--rung, --rung-b)")
    common = tables[heads[0]][0].clips
    for ta, tb in tables.values():
        common = np.intersect1d(np.intersect1d(common, ta.clips), tb.clips)
    if len(common) < 2:
        raise InputError(f"{a.path} and {b.path} share {len(common)} test clip(s) under these rungs; a paired "
                         "clip bootstrap needs at least 2")
    cut = {h: tuple(t.subset(np.isin(t.clip, common)) for t in pair) for h, pair in tables.items()}
    _check_labels(*cut[heads[0]], a.path, b.path)
    mean_d, each = stats.mean_paired_difference([cut[h] for h in heads], HEADLINE, n_resamples=config.n_resamples,
                                                level=config.level, rng=config.seed)
    rows, per_run = [], []
    for h, d in zip(heads, each):
        ta, tb = cut[h]
        runs = _per_run(ta, tb)
        per_run.append(runs)
        rows.append({"head": h, "a": stats.statistic(ta, HEADLINE), "b": stats.statistic(tb, HEADLINE),
                     "n_items_a": len(ta), "n_items_b": len(tb), "per_run": runs} | _with_reading(d))
    mean = {"head": "+".join(heads), "a": float(np.mean([r["a"] for r in rows])),
            "b": float(np.mean([r["b"] for r in rows])),
            "per_run": {r: float(np.mean([p[r] for p in per_run])) for r in per_run[0]
                        if all(r in p for p in per_run)}} | _with_reading(mean_d)
    ta, tb = cut[heads[0]]
    frames_a = set(zip(ta.clip.tolist(), ta.index.tolist()))
    frames_b = set(zip(tb.clip.tolist(), tb.index.tolist()))
    return {
        "kind": "audit-pair",
        "a": {"folder": str(folder_a), "rung": rung, "dataset": a.doc["audit"].get("dataset"),
              "backbone": a.doc["audit"].get("backbone")},
        "b": {"folder": str(folder_b), "rung": rung_b, "dataset": b.doc["audit"].get("dataset"),
              "backbone": b.doc["audit"].get("backbone")},
        "statistic": HEADLINE,
        "n_clips": int(len(common)), "clips": common.tolist(),
        "frames": {"a": len(frames_a), "b": len(frames_b), "both": len(frames_a & frames_b),
                   "identical": frames_a == frames_b},
        "factors": factors(a.doc, b.doc, rung, rung_b),
        "heads": rows, "recurrent_mean": mean,
        "config": asdict(config),
        "provenance": provenance.collect(config={"a": str(folder_a), "b": str(folder_b), "rung": rung,
                                                 "rung_b": rung_b, "stats": asdict(config)},
                                         seeds={"stats": config.seed}, inputs=[a.path, a.scores, b.path, b.scores],
                                         device="cpu"),
    }
