"""The audit's conclusions in words: the headline, the findings paragraph and the notes that
say how to read the tables. Every number comes from the document or the registry; every
"same as" or "differs" comes from a recorded paired difference and its interval.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from .. import registry
from . import audit_doc as d
from .audit_doc import target_rung
from .audit_fmt import NA, SAME, bracket, difference_text, fmt, verdict
from .audit_steps import step_words


def _level(x: Mapping[str, Any] | None) -> str:
    return f"{round(100 * d.num((x or {}).get('level', 0.95)))}%"


def _envelope(pairs: list[tuple[float, float]]) -> tuple[float, float] | None:
    ok = [(lo, hi) for lo, hi in pairs if not (math.isnan(lo) or math.isnan(hi))]
    return (min(lo for lo, _ in ok), max(hi for _, hi in ok)) if ok else None


def _figure(doc: d.Doc, p: str, chance: bool = False) -> str:
    """``0.8575 under `strict` (95% CI [0.7837, 0.9233]``: the recurrent heads' mean under ``p``
    with its own interval (and chance band) where the audit recorded them (``audit.rungs``);
    in older documents, the head's interval (one head) or the span of the heads' intervals."""
    es = d.entries(doc)
    heads = [h for h in d.paper_heads(doc) if (p, h) in es]
    text = f"{fmt(d.recurrent_mean(doc, p))} under `{p}`"
    mean = d.rung_mean(doc, p)
    if mean is not None:  # the mean's own interval and band: every head on the same clip draws
        notes = [f"{_level(mean['interval'])} CI {bracket(d.num(mean['interval']['low']), d.num(mean['interval']['high']))}"]
        if chance:
            notes.append(f"label-permutation chance band {bracket(d.num(mean['chance']['low']), d.num(mean['chance']['high']))}")
        return f"{text} ({'; '.join(notes)})"
    span = _envelope([iv for h in heads if (iv := d.interval(es[(p, h)]))])
    notes = [] if span is None else [f"95% CI {bracket(*span)}" if len(heads) == 1
                                     else f"the heads' 95% CIs span {bracket(*span)}"]
    if chance and (band := _chance(doc, p)):
        notes.append(band)
    return f"{text} ({'; '.join(notes)})" if notes else text


def _chance(doc: d.Doc, p: str) -> str:
    es = d.entries(doc)
    bands = [b for h in d.paper_heads(doc) if (p, h) in es and (b := d.band(es[(p, h)]))]
    span = _envelope([(d.num(b.get("low")), d.num(b.get("high"))) for b in bands])
    if span is None:
        return ""
    return f"label-permutation chance band {bracket(*span)}"


def _headline_comparison(doc: d.Doc, target: str) -> Mapping[str, Any] | None:
    for c in d.comparisons(doc, "recurrent mean, rung vs rung"):
        if d.split_key(c.get("a"))[0] == target and d.split_key(c.get("b"))[0] == "paper":
            return c
    return None


def _drop(doc: d.Doc, paper: float, strict: float, target: str) -> str:
    delta = paper - strict
    if d.legacy(doc):
        return f", {_drop_words(delta)} (format 1: no interval recorded)."
    c = _headline_comparison(doc, target)
    if c is None:
        return f": {_drop_words(delta)} (no paired interval recorded)."
    # The comparison is `target` minus `paper` on the clips both rungs score; the drop is its
    # negative, and so is its interval: figure and interval come from the same comparison.
    drop = -d.num(c.get("difference"))
    low, high = -d.num(c.get("high")), -d.num(c.get("low"))
    read = ": no difference detectable at this resolution" if verdict(c) == SAME else ""
    scope = []
    if not math.isnan(drop) and abs(drop - delta) >= 5e-5:
        scope.append(f"on the clips both rungs score; {delta:.4f} between the two means above")
    if (doc["audit"].get("construction") or {}).get("copies"):
        scope.append("`paper` scores the flip / rotation copies too, as the paper did; "
                     f"`{target}` original frames only")
    scope_text = f" ({'; '.join(scope)})" if scope else ""
    return (f": {_drop_words(drop)}{scope_text}, {_level(c)} CI of the drop {bracket(low, high, sign=True)} "
            f"(paired clip bootstrap over {c.get('n_clips', NA)} test clips){read}.")


def _drop_words(delta: float) -> str:
    if math.isnan(delta):
        return "a drop not recorded (n/a)"
    return f"a drop of {delta:.4f}" if delta >= 0 else f"a rise of {-delta:.4f} (not a drop)"


def headline(doc: d.Doc) -> str:
    """The audit's finding in one sentence: the recurrent heads' mean under ``paper`` and under
    ``strict`` (else ``strict-test-only``) with their intervals, the chance band there, and
    the drop with its paired interval (or why it cannot be stated)."""
    doc = d.read(doc)
    heads = ", ".join(d.paper_heads(doc)) or "none in this audit"
    target = target_rung(doc)
    paper, strict = d.recurrent_mean(doc, "paper"), d.recurrent_mean(doc, target)
    relabelled = " (format 1's `strict`)" if d.legacy(doc) and target in (doc["audit"].get("relabelled") or {}).values() else ""
    said = []
    for p, m in (("paper", paper), (target, strict)):
        if m is None:
            said.append(f"`{p}` {d.why_missing(doc, p)}")
        else:
            said.append(_figure(doc, p, chance=p == target) + (relabelled if p == target else ""))
    if target != "strict" and not d.legacy(doc):
        said[1] += f" (`strict`, which adds the normal Train clips to training, {d.why_missing(doc, 'strict')})"
    what = "Mean ROC-AUC" if d.legacy(doc) else "Mean per-fold ROC-AUC"
    if paper is None or strict is None or math.isnan(paper - strict):
        end = f", so the drop from `paper` to `{target}` cannot be stated."
    else:
        end = _drop(doc, paper, strict, target)
    return f"{what} of the paper's recurrent heads ({heads}): {said[0]}; {said[1]}{end}"


# ------------------------------------------------------------------------ the paragraph


def legacy_note(doc: d.Doc) -> str:
    """For a format-1 document: what its rungs and figures are, in today's terms; "" otherwise."""
    doc = d.read(doc)
    if not d.legacy(doc):
        return ""
    return ("This audit was written in format 1, before the statistics of issue 21: its `strict` rung trained on the "
            "test clips only, which is today's `strict-test-only`, and is shown under that name. Its figures are "
            "each run's test ROC-AUC (on k-fold rungs pooled over the folds' predictions, which is biased where the "
            "folds' class ratios differ), mean over runs; it records no interval, chance band or paired difference.")


def control_claims(doc: d.Doc) -> list[str]:
    """``LSTM vs last-frame under `paper`: +0.0008 [−0.0012, +0.0030]: no difference ...``."""
    out = []
    for c in d.comparisons(d.read(doc), "sequence vs last-frame"):
        (rung, head), (_, control) = d.split_key(c.get("a")), d.split_key(c.get("b"))
        out.append(f"{head} vs {control} under `{rung}`: {difference_text(c)}")
    return out


def _control_sentence(doc: d.Doc) -> str:
    paper = [c for c in control_claims(doc) if "under `paper`" in c]
    if not paper:
        return _legacy_control(doc) if d.legacy(doc) else ""
    return ("Whether the sequence helps, under `paper`: each recurrent head minus the `last-frame` control (one frame, "
            "no sequence), paired over the same runs, folds and seeds, 95% clip-bootstrap interval: "
            + "; ".join(paper) + ".")


def _legacy_control(doc: d.Doc) -> str:
    """Format 1 records no paired difference: the figures side by side, and no claim either way."""
    lf, rec = d.entries(doc).get(("paper", "last-frame")), d.recurrent_mean(doc, "paper")
    if lf is None or rec is None:
        return ""
    return (f"Under `paper` the `last-frame` control (one frame, no sequence) reaches {fmt(d.value(lf))} against "
            f"the recurrent heads' {fmt(rec)}; a format-1 file records no paired difference, so neither sameness "
            "nor a difference is claimed.")


def _largest_step(doc: d.Doc) -> str:
    """The neighbouring supervised rungs with the largest drop of the recurrent heads' mean,
    and every factor that step changes (its drop measures them all)."""
    steps = [(p, m) for p in d.ran(doc) if d.supervised(p)
             for m in [d.recurrent_mean(doc, p)] if m is not None and not math.isnan(m)]
    if len(steps) < 2:
        return "Fewer than two supervised rungs have figures, so no step of the ladder can be singled out."
    drop, a, b = max((x[1] - y[1], x[0], y[0]) for x, y in pairwise(steps))
    if drop <= 0:
        return "No step between neighbouring supervised rungs lowers the recurrent heads' mean."
    return (f"The largest drop of the recurrent heads' mean between neighbouring rungs is from `{a}` to `{b}` "
            f"({drop:.4f}, point estimates); that step changes {step_words(doc, a, b)}, and its drop measures all "
            "of them together (audit.md lists the step's paired differences).")


def _standard(doc: d.Doc) -> str:
    es = d.entries(doc)
    got = [s for s in doc["audit"]["scorers"] if ("standard", s) in es]
    if not got:
        return f"The `standard` rung {d.why_missing(doc, 'standard')}, so no one-class figure is available."
    figs = ", ".join(f"{s} {fmt(d.value(es[('standard', s)]))}"
                     + (f" {bracket(*iv)}" if (iv := d.interval(es[("standard", s)])) else "") for s in got)
    what = "ROC-AUC" if d.legacy(doc) else "mean per-fold ROC-AUC [95% CI]"
    return (f"Under `standard` (one-class scorers fit on normal training frames only, the field's "
            f"protocol) the scorers reach {what} {figs}.")


def _anchors(dataset: registry.Dataset) -> str:
    if not dataset.standard_anchors:
        return f"No published frame-level ROC-AUC under the standard protocol is recorded for {dataset.title}."
    figs = "; ".join(f"{method} {auc:g}" for method, auc in dataset.standard_anchors)
    return (f"For orientation, published frame-level ROC-AUCs on {dataset.title} under the standard "
            f"protocol (PROTOCOL §10): {figs}.")


def ladder_paragraph(doc: d.Doc) -> str:
    """The findings after the headline: the control, the largest step, the standard rung, the anchors."""
    doc = d.read(doc)
    dataset = registry.get_dataset(doc["audit"]["dataset"])
    parts = [headline(doc), _control_sentence(doc), _largest_step(doc), _standard(doc), _anchors(dataset)]
    return " ".join(p for p in parts if p) + "\n"


# -------------------------------------------------------------------- reading notes


TABLE_NOTE = ("Each row: a rung and a head (or one-class scorer). The mean per-fold ROC-AUC is the headline "
              "statistic (each fold model's AUC on its own test clips, mean over folds, then over runs; on "
              "single-split rungs each run's test AUC), with its 95% interval from a bootstrap over test clips "
              "(the fitted models held fixed; with 12 clips in 4 folds such an interval covered 85-92% in "
              "simulation, depending on the clip mix, bench/bootstrap_coverage.py: read it as narrower than "
              "95%). "
              "The spread over runs is the sample std (ddof 1) with the notebooks' population std in parentheses, "
              "shown only where there are several runs. The rank-pooled AUC pools within-fold ranks; the raw "
              "pooled AUC pools the folds' raw scores, which is biased where folds are trained at different class "
              "ratios. The chance band: the 95% range of the mean per-fold AUC when labels are permuted between "
              "test clips, with the p-value of the observed figure.")
LEGACY_TABLE_NOTE = ("Cells: ROC-AUC mean over runs, ± sample std (population std) where there are several runs, "
                     "and the accuracy mean. The last two columns: the share of test frames that also sit inside a "
                     "training window, and inside a window early stopping watched; under `standard`, the share of "
                     "test frames identical to a training frame.")
RUNG_NOTE = ("Per rung: what early stopping watches; the share of test frames that also sit inside a training "
             "window, and inside a window early stopping watched (under `standard`, identical to a training "
             "frame); and the base-rate reference, the value of each statistic for a scorer that outputs each "
             "fold's training base rate (0.5 for a statistic free of the pooling bias; the raw pooled AUC falls "
             "below 0.5 on k-fold rungs).")
PROBES_NOTE = ("The paper's construction makes every flip / rotation copy abnormal and takes most normal rows "
               "from the Train clips, so \"is this a copy?\" and \"is this a Train-clip frame?\" predict the "
               "label without any anomaly being recognised. Probe (a) reads the heads' own scores: among abnormal "
               "items, the AUC of copy vs original; among normal items, Train-clip vs test-clip frame. Probe (b) "
               "trains the same heads on clip-grouped folds to predict those two things. An AUC near 0.5 means the "
               "scores do not separate the groups; far from 0.5 means the shortcut is there to be used (b) or "
               "is used (a). Under `strict` copies and Train-clip frames only ever train; under `strict-test-only` "
               "copies only ever train and Train-clip frames are not used; `standard` fits on Train-clip "
               "frames and never sees a copy; all three take their figures from original test-clip frames alone.")


@dataclass(frozen=True)
class _Policy:
    patience: int
    max_epochs: int


# The notebooks' EarlyStopping(monitor='val_loss', patience=5, restore_best_weights=True) and
# epochs=50: protocol.train.TrainConfig's defaults (a test checks they agree), written out here
# because importing that module loads torch, which a report has no use for.
NOTEBOOKS = _Policy(patience=5, max_epochs=50)


def early_stopping(doc: d.Doc) -> str:
    """The early-stopping policy, from the entries' training config, against the notebooks'."""
    doc = d.read(doc)
    trains = [(e.get("config") or {}).get("train") or {} for (p, _), e in d.entries(doc).items() if d.supervised(p)]
    nb = NOTEBOOKS
    patience = sorted({t["patience"] for t in trains if "patience" in t}) or [nb.patience]
    epochs = sorted({t["max_epochs"] for t in trains if "max_epochs" in t}) or [nb.max_epochs]
    ran = [f"patience {'/'.join(map(str, patience))}" if patience != [nb.patience] else "",
           f"at most {'/'.join(map(str, epochs))} epochs" if epochs != [nb.max_epochs] else ""]
    ran = "; this audit ran with " + " and ".join(r for r in ran if r) if any(ran) else ""
    return (f"Early stopping is the notebooks' and is unchanged by this audit: patience {nb.patience} epochs on the "
            f"loss of the split early stopping watches (the validation split; the test split under `paper`), "
            f"the best epoch's weights restored, at most {nb.max_epochs} epochs{ran}. A fit that restores epoch 0 "
            "scored the weights of its first epoch: the share of such fits says how often a head barely trained.")


def scores_line(doc: d.Doc) -> str:
    audit = d.read(doc)["audit"]
    name = audit.get("scores_file")
    if not name:
        return "No score file was written with this audit (written before scores were kept)."
    sha = audit.get("scores_sha256")
    return (f"Every out-of-fold score is in `{name}` beside this file ({audit.get('scores_rows', NA)} rows: rung, "
            f"head, run, fold, clip, frame, copy, label, score{'; sha256 ' + sha if sha else ''}): any figure "
            "here can be recomputed from it.")


def multiplicity_note(doc: d.Doc) -> str:
    """How many paired intervals the document records and how many of them would exclude 0 by
    chance alone at their level: the reader's guard against reading one exclusion as a finding."""
    doc = d.read(doc)
    n = len(d.comparisons(doc)) + len((doc["audit"].get("comparable") or {}).get("rows") or [])
    if n == 0:
        return ""
    return (f"This audit records {n} paired intervals (heads against `last-frame`, rung against rung, the "
            f"recurrent means, `strict` beside `standard`); at 95% each, about {n / 20:.1f} of them would exclude 0 "
            "by chance alone even where nothing differs, so a single exclusion is weak evidence: the findings "
            "rest on the recurrent heads' mean and on patterns across heads.")
