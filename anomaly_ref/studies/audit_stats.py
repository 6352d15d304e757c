"""The audit's statistics: every rung's figure with its interval and chance band, and the
comparisons its conclusions rest on (issue 21; CONVENTIONS §12).

In: the audit's results, each with its out-of-fold score table
(:attr:`~anomaly_ref.protocol.records.ProtocolResult.scores`), and the frames they came
from. Out: :func:`score_table` (every scored item, written to ``scores.csv.gz``) and
:func:`describe` (per entry: the statistics, intervals and chance references; across
entries: paired differences and the one row where the supervised and one-class results
stand on equal terms). The arithmetic is :mod:`anomaly_ref.protocol.stats` and
:mod:`anomaly_ref.protocol.nulls`; this module only decides what is compared with what.

The headline statistic of every entry is the **mean per-fold ROC-AUC** (per run, the mean
AUC of its fold models, each on its own test clips; then the mean over runs): a rung that
pools folds trained at different class ratios is not biased by it, and a single-split rung
(one fold per run) gets its ordinary test AUC. Its interval resamples test clips.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np

from ..errors import InputError
from ..protocol import nulls, stats
from ..protocol.features import FrameFeatures
from ..protocol.records import ProtocolResult
from ..registry import get_protocol, paper_heads

log = logging.getLogger(__name__)

HEADLINE = "mean_fold_auc"
CONTROL = "last-frame"  # the head that sees only the frame deciding a window's label
COLUMNS = ("rung", "head", "run", "fold", "clip", "frame", "copy", "origin", "label", "score", "train_share")


@dataclass(frozen=True)
class StatsConfig:
    n_resamples: int = 1000  # clip-bootstrap resamples per interval
    n_permutations: int = 200  # label permutations per chance band
    level: float = 0.95  # interval and band coverage
    seed: int = 0  # every interval and band draws from this seed (reproducible from audit.json)


def score_table(results: Sequence[ProtocolResult]):
    """Every scored item of every result, one row each (:data:`COLUMNS`; clip ids as text) —
    the content of ``scores.csv.gz``, from which any figure of the audit can be recomputed."""
    import pandas as pd

    parts = []
    for res in results:
        if res.scores is None:
            raise InputError(f"{res.protocol}/{res.head}: the result carries no score table")
        part = pd.DataFrame({k: res.scores[k] for k in COLUMNS if k not in ("rung", "head")})
        part.insert(0, "head", res.head)
        part.insert(0, "rung", res.protocol)
        parts.append(part)
    table = pd.concat(parts, ignore_index=True)
    table["clip"] = table["clip"].astype(str)
    return table[list(COLUMNS)]


def clip_frames(data: FrameFeatures) -> tuple[dict[str, np.ndarray], dict[tuple[str, int], int]]:
    """``({clip: frame labels in time order}, {(clip, frame): position})`` over the original
    frames of ``data`` (copies share their source's clip and frame): what the label-permutation
    null borrows labels from, and where an item sits in its clip."""
    keep = ~data.is_copy()
    clips = np.asarray(data.clips).astype(str)[keep]
    index, labels = np.asarray(data.index)[keep], np.asarray(data.y)[keep]
    order = np.lexsort((index, clips))
    vectors, where = {}, {}
    for clip in dict.fromkeys(clips[order]):
        rows = order[clips[order] == clip]
        vectors[clip] = labels[rows].astype(np.int64)
        where.update({(clip, int(i)): p for p, i in enumerate(index[rows])})
    return vectors, where


def as_scores(part, where: dict[tuple[str, int], int]) -> stats.Scores:
    """The :class:`~anomaly_ref.protocol.stats.Scores` of a slice of the score table, each
    item's frame replaced by its position in its clip."""
    pos = np.array([where.get((c, int(f)), -1) for c, f in zip(part["clip"], part["frame"])], np.int64)
    if (pos < 0).any():
        raise InputError(f"{int((pos < 0).sum())} scored items name a frame that is not an original frame of "
                         "the audited clips")
    return stats.Scores(part["run"].to_numpy(), part["fold"].to_numpy(), part["clip"].to_numpy().astype(str), pos,
                        part["label"].to_numpy(), part["score"].to_numpy(np.float64))


def entry_stats(t: stats.Scores, train_share: dict, vectors: dict, result: dict, cfg: StatsConfig,
                draws: dict | None = None) -> dict[str, Any]:
    """Statistics of one rung × head: see :func:`describe`. ``draws``, when given, receives
    the headline's bootstrap and permutation distributions (same seed for every entry, so the
    same clip draws and permutations: a mean over heads can be resampled as one)."""
    folds = stats.fold_aucs(t)
    per_run = stats.per_run(t, HEADLINE)
    out: dict[str, Any] = {"headline": HEADLINE}
    for name in stats.STATISTICS:
        out[name] = {"estimate": stats.statistic(t, name)}
    out[HEADLINE]["per_run"] = asdict(stats.spread(list(per_run.values())))
    out[HEADLINE]["per_fold"] = asdict(stats.spread(folds.auc)) | {"n_one_class": folds.n_skipped}
    intervals = {name: stats.bootstrap(t, name, n_resamples=cfg.n_resamples, level=cfg.level, rng=cfg.seed)
                 for name in (HEADLINE, "rank_pooled_auc")}
    for name, interval in intervals.items():
        out[name]["interval"] = interval.to_dict()
    out["within_clip_auc"]["clips"] = stats.within_clip_aucs(t)
    base = t.with_scores(nulls.base_rate_scores(t, train_share))
    band = nulls.permutation_null(t, vectors, HEADLINE, n_permutations=cfg.n_permutations, level=cfg.level,
                                  rng=cfg.seed)
    out["chance"] = {"base_rate": {name: stats.statistic(base, name) for name in stats.STATISTICS},
                     "permutation": band.to_dict()}
    out["fits"] = fits(result)
    if draws is not None:
        draws.update(bootstrap=intervals[HEADLINE].distribution, null=band.distribution, clips=tuple(t.clips))
    return out


def fits(result: dict) -> dict[str, Any]:
    """How the fits of a supervised entry ended: the epoch whose weights were scored, per fit."""
    epochs = [f["weights_epoch"] for run in result["runs"] for f in (run["folds"] or [run])]
    known = [e for e in epochs if e is not None]
    return {"n": len(epochs), "weights_epochs": epochs,
            "restored_epoch_0": sum(e == 0 for e in known),
            "share_restored_epoch_0": (sum(e == 0 for e in known) / len(known)) if known else None}


def describe(results: Sequence[dict], table, data: FrameFeatures, cfg: StatsConfig = StatsConfig()) -> dict:
    """The audit's statistics, from its result entries (``ProtocolResult.to_dict()``: protocol,
    head, runs), its score table (:func:`score_table`) and the frames (labels, clips) scored.

    ``entries``: per ``"<rung>/<head>"``, each :data:`stats.STATISTICS` estimate; the headline
    (mean per-fold AUC) with its spread over runs and over folds (population std as the
    notebooks', sample std beside it; none for one value) and a clip-bootstrap interval (as
    for the rank-pooled AUC); within-clip AUCs; the chance references (the base-rate scorer's
    value of each statistic, and the label-permutation band of the headline); for supervised
    entries, the epoch whose weights each fit scored.

    ``rungs``: per supervised rung, the mean of the paper's recurrent heads' headline — the
    figure the audit's headline quotes — with its own clip-bootstrap interval and
    label-permutation band (every head resampled on the same clip draws and permutations).

    ``comparisons``: paired differences of the headline with their clip-bootstrap interval —
    each recurrent head against the ``last-frame`` control under the same rung, runs, folds
    and seeds; each head from one rung to the next on the same test clips; the recurrent
    heads' mean from ``paper`` to each later supervised rung.

    ``comparable``: ``strict`` (or, without training clips, ``strict-test-only``) beside
    ``standard`` on the identical frames (those ``strict`` scores), the one-class scores
    grouped into the same runs and folds, so both get the same statistics.
    """
    vectors, where = clip_frames(data)
    keys = [(r["protocol"], r["head"]) for r in results]
    tables = {k: as_scores(table[(table["rung"] == k[0]) & (table["head"] == k[1])], where) for k in keys}
    entries, draws = {}, {}
    for r, k in zip(results, keys):
        draws[k] = {}
        entries["/".join(k)] = entry_stats(tables[k], _train_shares(table, *k), vectors, r, cfg, draws[k])
    return {"config": asdict(cfg), "entries": entries, "rungs": rung_means(keys, tables, draws, cfg),
            "comparisons": comparisons(keys, tables, cfg), "comparable": comparable(keys, table, where, cfg)}


def rung_means(keys: list[tuple[str, str]], tables: dict, draws: dict, cfg: StatsConfig) -> dict[str, Any]:
    """Per rung, the paper's recurrent heads' mean headline with its interval and chance band
    (see :func:`describe`)."""
    out = {}
    for rung in dict.fromkeys(p for p, _ in keys):
        heads = [h for h in paper_heads() if (rung, h) in tables]
        if not heads or len({draws[(rung, h)]["clips"] for h in heads}) != 1:
            continue  # no recurrent head, or heads scored on different clips: no common draw
        boot = np.mean([draws[(rung, h)]["bootstrap"] for h in heads], axis=0)
        null = np.mean([draws[(rung, h)]["null"] for h in heads], axis=0)
        estimate = float(np.mean([stats.statistic(tables[(rung, h)], HEADLINE) for h in heads]))
        ok = null[np.isfinite(null)]
        out[rung] = {"heads": heads, "statistic": HEADLINE, "estimate": estimate,
                     "interval": dict(zip(("low", "high"), stats.percentile_interval(boot, cfg.level)),
                                      level=cfg.level, n_resamples=cfg.n_resamples,
                                      n_undefined=int((~np.isfinite(boot)).sum())),
                     "chance": dict(zip(("low", "high"), stats.percentile_interval(null, cfg.level)),
                                    mean=float(ok.mean()) if len(ok) else float("nan"), level=cfg.level,
                                    n_permutations=cfg.n_permutations,
                                    p_value=float((1 + np.sum(ok >= estimate)) / (1 + len(ok))))}
    return out


def _train_shares(table, rung: str, head: str) -> dict[tuple[int, int], float]:
    part = table[(table["rung"] == rung) & (table["head"] == head)]
    first = part.groupby(["run", "fold"])["train_share"].first()
    return {(int(run), int(fold)): float(v) for (run, fold), v in first.items()}


def _shared(a: stats.Scores, b: stats.Scores) -> tuple[stats.Scores, stats.Scores]:
    """Both tables cut to the test clips they share (a paired bootstrap needs one clip set)."""
    common = np.intersect1d(a.clips, b.clips)
    return a.subset(np.isin(a.clip, common)), b.subset(np.isin(b.clip, common))


def _difference(kind: str, a: tuple[str, str], b: tuple[str, str], ta: stats.Scores, tb: stats.Scores,
                cfg: StatsConfig) -> dict[str, Any]:
    ta, tb = _shared(ta, tb)
    d = stats.paired_difference(ta, tb, HEADLINE, n_resamples=cfg.n_resamples, level=cfg.level, rng=cfg.seed)
    return {"kind": kind, "a": "/".join(a), "b": "/".join(b), "n_clips": int(len(ta.clips))} | d.to_dict()


def comparisons(keys: list[tuple[str, str]], tables: dict, cfg: StatsConfig) -> list[dict[str, Any]]:
    out = []
    rungs = list(dict.fromkeys(p for p, _ in keys))
    for rung in rungs:
        if (rung, CONTROL) not in tables:
            continue
        for head in paper_heads():
            if (rung, head) in tables:
                out.append(_difference("sequence vs last-frame", (rung, head), (rung, CONTROL), tables[(rung, head)],
                                       tables[(rung, CONTROL)], cfg))
    supervised = [r for r in rungs if get_protocol(r).trains_heads]
    for before, after in zip(supervised, supervised[1:]):
        for head in dict.fromkeys(h for (p, h) in tables if p == before):
            if (after, head) in tables:
                out.append(_difference("rung vs rung", (after, head), (before, head), tables[(after, head)],
                                       tables[(before, head)], cfg))
    # The headline's contrast: the paper's recurrent heads (their mean) from the paper's rung
    # to each later supervised rung, on the same clip draws.
    for after in supervised[1:]:
        if supervised[0] == "paper":
            mean = _mean_difference("paper", after, tables, cfg)
            if mean is not None:
                out.append(mean)
    return out


def _mean_difference(before: str, after: str, tables: dict, cfg: StatsConfig) -> dict[str, Any] | None:
    """The mean over the paper's recurrent heads of the headline, rung ``after`` minus rung
    ``before``, with a paired clip-bootstrap interval (one clip draw for every head and rung)."""
    heads = [h for h in paper_heads() if (before, h) in tables and (after, h) in tables]
    if not heads:
        return None
    common = tables[(before, heads[0])].clips
    for rung in (before, after):
        for h in heads:
            common = np.intersect1d(common, tables[(rung, h)].clips)
    cut = {(r, h): tables[(r, h)].subset(np.isin(tables[(r, h)].clip, common)) for r in (before, after) for h in heads}
    mean, _ = stats.mean_paired_difference([(cut[(after, h)], cut[(before, h)]) for h in heads], HEADLINE,
                                           n_resamples=cfg.n_resamples, level=cfg.level, rng=cfg.seed)
    return {"kind": "recurrent mean, rung vs rung", "a": f"{after}/{'+'.join(heads)}", "b": f"{before}/{'+'.join(heads)}",
            "n_clips": int(len(common))} | mean.to_dict()


def comparable(keys: list[tuple[str, str]], table, where: dict, cfg: StatsConfig) -> dict[str, Any] | None:
    """strict (or strict-test-only) and standard on identical frames and folds (see :func:`describe`)."""
    have = {p for p, _ in keys}
    rung = "strict" if "strict" in have else "strict-test-only" if "strict-test-only" in have else None
    if rung is None or "standard" not in have:
        return None
    rows = []
    supervised = table[table["rung"] == rung]
    # The frames strict scores, each once per run and fold: take them from one head (all heads
    # of a rung score the same items).
    head0 = supervised["head"].iloc[0]
    frames = supervised[supervised["head"] == head0]
    for scorer in table.loc[table["rung"] == "standard", "head"].unique():
        one = table[(table["rung"] == "standard") & (table["head"] == scorer)]
        lookup = dict(zip(zip(one["clip"], one["frame"].astype(int)), one["score"]))
        moved = frames.copy()
        moved["score"] = [lookup[(c, int(f))] for c, f in zip(frames["clip"], frames["frame"])]
        t_scorer = as_scores(moved, where)
        for head in supervised["head"].unique():
            t_head = as_scores(supervised[supervised["head"] == head], where)
            row = {"supervised": f"{rung}/{head}", "one_class": f"standard/{scorer}",
                   "n_items": int(len(t_head)), "n_clips": int(len(t_head.clips))}
            for name in (HEADLINE, "rank_pooled_auc"):
                row[name] = {"supervised": stats.statistic(t_head, name), "one_class": stats.statistic(t_scorer, name)}
            d = stats.paired_difference(t_head, t_scorer, HEADLINE, n_resamples=cfg.n_resamples, level=cfg.level,
                                        rng=cfg.seed)
            row["difference"] = d.to_dict()
            rows.append(row)
    return {"rung": rung, "rule": "the frames the supervised rung scores (original frames of test clips that end "
                                  "a temporal window), each once per run and fold; the one-class scores of the "
                                  "same frames grouped into the same runs and folds; the same statistics",
            "rows": rows}


def probe_entries(entries: list[dict], table, test: FrameFeatures, cfg: StatsConfig) -> list[dict[str, Any]]:
    """Each trained probe's entry (``ProtocolResult.to_dict()``) with its headline statistic
    and clip-bootstrap interval, from the probe rows of the score table."""
    _, where = clip_frames(test)
    out = []
    for e in entries:
        e = {k: v for k, v in e.items() if k != "stats"}
        t = as_scores(table[(table["rung"] == e["protocol"]) & (table["head"] == e["head"])], where)
        interval = stats.bootstrap(t, HEADLINE, n_resamples=cfg.n_resamples, level=cfg.level, rng=cfg.seed)
        out.append(e | {"stats": {"headline": HEADLINE, HEADLINE: {
            "estimate": interval.estimate, "interval": interval.to_dict(),
            "per_run": asdict(stats.spread(list(stats.per_run(t, HEADLINE).values())))}}})
    return out
