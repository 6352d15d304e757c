"""Reading an audit document (``audit.json``) for the renderers: checks, the format-1
relabelling, and each entry's figures as plain numbers.

Two formats exist. Format 2 (``audit["format"] == 2``, issue 21) gives every result entry a
``stats`` block (mean per-fold ROC-AUC with its clip-bootstrap interval, spreads, rank-pooled
and raw pooled AUC, within-clip AUC, chance references, fits) and the audit paired
``comparisons``. Format 1 (no ``format`` key) has none of that, and its ``strict`` rung
trained on the test clips only: today's ``strict-test-only``. :func:`read` relabels it so,
once, so that no renderer can show a format-1 figure under today's ``strict``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .. import registry
from ..errors import InputError

Doc = Mapping[str, Any]
Entry = Mapping[str, Any]
HEADLINE = "mean_fold_auc"  # audit_stats.HEADLINE: the statistic every rung is read by
FORMAT_1_RELABEL = {"strict": "strict-test-only"}  # format 1's name -> today's name of the same rung


# ------------------------------------------------------------------ checks and format


def check(doc: Doc) -> Mapping[str, Any]:
    """``doc["audit"]``, checked for the keys every renderer needs."""
    for key in ("audit", "results"):
        if key not in doc:
            raise InputError(f"audit document: missing key {key!r} "
                             "(expected audit.json with 'audit', 'results', 'provenance')")
    missing = [k for k in ("dataset", "backbone", "heads", "scorers") if k not in doc["audit"]]
    if missing:
        raise InputError(f"audit document: 'audit' lacks {', '.join(map(repr, missing))}")
    return doc["audit"]


def legacy(doc: Doc) -> bool:
    """A format-1 document (written before issue 21): no statistics, its ``strict`` relabelled."""
    return int(doc["audit"].get("format") or 1) < 2


def read(doc: Doc) -> Doc:
    """``doc`` checked, and for a format-1 document a copy with its rungs under today's names
    (``audit["relabelled"]`` says which). Idempotent; the caller's document is not changed."""
    audit = check(doc)
    if not legacy(doc) or "relabelled" in audit:
        entries(doc)
        return doc
    rename = lambda p: FORMAT_1_RELABEL.get(p, p)  # noqa: E731
    results = [dict(e, protocol=rename(e.get("protocol"))) for e in doc["results"]]
    audit = dict(audit, relabelled=dict(FORMAT_1_RELABEL),
                 protocols=[rename(p) for p in audit.get("protocols") or []],
                 skipped=[dict(s, protocol=rename(s.get("protocol"))) for s in audit.get("skipped") or []])
    out = dict(doc, audit=audit, results=results)
    entries(out)
    return out


def entries(doc: Doc) -> dict[tuple[str, str], Entry]:
    """``{(protocol, head or scorer): result entry}``; an unknown rung or a repeated pair is an error."""
    out: dict[tuple[str, str], Entry] = {}
    for i, e in enumerate(doc["results"]):
        if e.get("protocol") not in registry.PROTOCOLS:
            raise InputError(f"audit document: results[{i}] has protocol {e.get('protocol')!r}; "
                             f"valid: {', '.join(registry.PROTOCOLS)}")
        key = (e["protocol"], e.get("head"))
        if key in out:
            raise InputError(f"audit document: results[{i}] repeats protocol {key[0]!r} with head {key[1]!r}")
        out[key] = e
    return out


def skipped(doc: Doc) -> dict[str, str]:
    """``{protocol: reason}`` of the rungs the audit could not run."""
    return {s["protocol"]: str(s.get("reason", "")) for s in doc["audit"].get("skipped") or []}


def rungs(doc: Doc) -> list[str]:
    """Rungs with results or a skip record, in ladder order."""
    present = {p for p, _ in entries(doc)} | set(skipped(doc))
    return [p for p in registry.PROTOCOLS if p in present]


def ran(doc: Doc) -> list[str]:
    """Rungs with results, in ladder order."""
    have = {p for p, _ in entries(doc)}
    return [p for p in registry.PROTOCOLS if p in have]


def supervised(protocol: str) -> bool:
    return registry.PROTOCOLS[protocol].trains_heads


def names(doc: Doc, protocol: str) -> list[str]:
    """The heads (or scorers) with an entry under ``protocol``, in the audit's order."""
    got = {h for p, h in entries(doc) if p == protocol}
    order = [*doc["audit"]["heads"], *doc["audit"]["scorers"]]
    return [n for n in order if n in got] + sorted(str(n) for n in got - set(order))


def paper_heads(doc: Doc) -> list[str]:
    """The audit's heads that are columns of the published workbooks (the recurrent ones)."""
    return [h for h in doc["audit"]["heads"] if h in registry.HEADS and registry.HEADS[h].in_paper]


def why_missing(doc: Doc, protocol: str) -> str:
    reason = skipped(doc).get(protocol)
    return f"was skipped ({reason})" if reason is not None else "is not in this audit"


# ------------------------------------------------------------------ an entry's figures


def num(x: Any) -> float:
    """A JSON number as a float; None (NaN written by a strict encoder) becomes NaN."""
    return math.nan if x is None else float(x)


def summary(entry: Entry, metric: str = "roc_auc") -> tuple[float, float]:
    """``(mean, population std)`` of ``metric`` over runs as the entry's summary has it."""
    s = entry.get("summary", {}).get(metric, {})
    return num(s.get("mean")), num(s.get("std"))


@dataclass(frozen=True)
class Spread:
    """A figure's spread over runs: population std (the notebooks') and sample std; both
    None where there is one value (a deterministic scorer, one run): then no "±" is shown."""

    n: int
    std: float | None
    std_sample: float | None


def value(entry: Entry) -> float:
    """The entry's headline figure: the mean per-fold ROC-AUC (format 2), else the mean over
    runs of each run's test ROC-AUC (format 1: pooled over folds on k-fold rungs)."""
    stats = entry.get("stats")
    if stats:
        return num(stats.get(HEADLINE, {}).get("estimate"))
    return summary(entry)[0]


def spread(entry: Entry) -> Spread:
    """The headline's spread over runs (format 1: from the summary's population std)."""
    stats = entry.get("stats")
    if stats:
        s = stats.get(HEADLINE, {}).get("per_run") or {}
        n = int(s.get("n") or 0)
        return Spread(n, _opt(s.get("std")), _opt(s.get("std_sample"))) if n > 1 else Spread(n, None, None)
    n, std = len(entry.get("runs") or []), summary(entry)[1]
    if n < 2:
        return Spread(n, None, None)
    # ddof 0 -> ddof 1 over the same n values: the sample std is a rescaling of the population one.
    return Spread(n, std, std * math.sqrt(n / (n - 1)) if not math.isnan(std) else math.nan)


def _opt(x: Any) -> float | None:
    return None if x is None else float(x)


def interval(entry: Entry, name: str = HEADLINE) -> tuple[float, float] | None:
    """``(low, high)`` of the clip-bootstrap interval of statistic ``name``; None if not recorded."""
    iv = ((entry.get("stats") or {}).get(name) or {}).get("interval")
    return (num(iv.get("low")), num(iv.get("high"))) if iv else None


def estimate(entry: Entry, name: str) -> float | None:
    """The estimate of statistic ``name`` (``rank_pooled_auc``, ...); None if not recorded."""
    s = (entry.get("stats") or {}).get(name)
    return None if s is None else num(s.get("estimate"))


def band(entry: Entry) -> Mapping[str, Any] | None:
    """The label-permutation chance band of the headline (``low``, ``high``, ``mean``,
    ``p_value``, ``n_permutations``, ``level``); None if not recorded."""
    return ((entry.get("stats") or {}).get("chance") or {}).get("permutation")


def base_rate(entry: Entry) -> Mapping[str, Any] | None:
    """Each statistic for the scorer that outputs each fold's training base rate; None if not recorded."""
    return ((entry.get("stats") or {}).get("chance") or {}).get("base_rate")


def fits(entry: Entry) -> Mapping[str, Any]:
    """``{"n", "restored_epoch_0", "known"}``: the fits of an entry and how many scored the
    weights of their first epoch (0-based ``weights_epoch`` 0). Read from the runs, so a
    format-1 document that recorded ``weights_epoch`` is counted too."""
    epochs = [f.get("weights_epoch") for run in entry.get("runs") or [] for f in (run.get("folds") or [run])]
    known = [e for e in epochs if e is not None]
    return {"n": len(epochs), "known": len(known), "restored_epoch_0": sum(e == 0 for e in known)}


def per_fit(entry: Entry, key: str) -> float | None:
    """Mean of ``key`` (``n_train``, ``n_test``) over the entry's fits (each fold of a k-fold
    run is a fit; a run without folds is one); None where no fit recorded it."""
    vals = [num(f[key]) for run in entry.get("runs") or [] for f in (run.get("folds") or [run])
            if f.get(key) is not None]
    return sum(vals) / len(vals) if vals else None


def run_share(entry_runs: list[Mapping[str, Any]], key: str) -> float | None:
    """Mean ``key`` (a share of test frames) over the runs that recorded it; None if none did."""
    shares = [s for r in entry_runs if r.get(key) is not None and not math.isnan(s := num(r[key]))]
    return sum(shares) / len(shares) if shares else None


def rung_runs(doc: Doc, protocol: str) -> list[Mapping[str, Any]]:
    return [r for (p, _), e in entries(doc).items() if p == protocol for r in e.get("runs", [])]


def recurrent_mean(doc: Doc, protocol: str) -> float | None:
    """Mean over the paper's heads present under ``protocol`` of their headline figures;
    None if none ran there, NaN if any of them is NaN."""
    es = entries(doc)
    vals = [value(es[(protocol, h)]) for h in paper_heads(doc) if (protocol, h) in es]
    return sum(vals) / len(vals) if vals else None


TARGETS = ("strict", "strict-test-only")  # the headline's rung: strict if it ran, else the test-clips-only one


def target_rung(doc: Doc) -> str:
    """The rung the headline reads the drop at: ``strict`` (trained on everything it may see)
    where the recurrent heads ran there, else ``strict-test-only``, else ``strict`` (missing)."""
    doc = read(doc)
    for p in TARGETS:
        if recurrent_mean(doc, p) is not None:
            return p
    return TARGETS[0]


def rung_mean(doc: Doc, protocol: str) -> Mapping[str, Any] | None:
    """The recurrent heads' mean of ``protocol`` with its own interval and chance band, as
    the audit recorded it (``audit.rungs``; audits before it have none)."""
    return (check(doc).get("rungs") or {}).get(protocol)


def comparisons(doc: Doc, kind: str | None = None) -> list[Mapping[str, Any]]:
    """The audit's paired differences (of ``kind`` if given), as recorded."""
    return [c for c in doc["audit"].get("comparisons") or [] if kind is None or c.get("kind") == kind]


def split_key(key: str) -> tuple[str, str]:
    """``"paper/LSTM"`` -> ``("paper", "LSTM")`` (a rung name has no "/")."""
    rung, _, name = str(key).partition("/")
    return rung, name
