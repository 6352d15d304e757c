"""What each step of the ladder changes, all of it, so that a step's difference is credited
to everything it changes and not to the one source of leakage the rung was designed to remove.

A rung's factors come from its ``registry.PROTOCOLS`` entry (windows, split, what early
stopping watches, the training clips, what is tested) and from the document (training and
test items per fit, the leakage each run measured, how the AUC was taken). Neighbouring
rungs that differ in several factors give a difference that measures all of them together.
"""

from __future__ import annotations

from itertools import pairwise

from .. import registry
from . import audit_doc as d
from .audit_fmt import NA, difference_text, pct

WINDOWS = {"shuffled": "10 frames shuffled before windowing (a window is 10 random frames)",
           "temporal": "10 consecutive frames inside one clip, in time order",
           "frames": "single frames (no windows)"}
WATCHES = {"test": "the loss on the test split", "val": "the loss on a validation split carved from training",
           "none": "nothing (no training loop)"}


def _split(spec: registry.Protocol, folds: int | None) -> str:
    if spec.split == "random":
        return "random stratified split of the windows, per run"
    if spec.split == "clip-kfold":
        k = f"{folds}-fold" if folds else "k-fold"
        return f"{k} over whole test clips, each run its own partition, every clip tested once per run"
    return "fit on the normal training clips, score the test clips"


def _watches(spec: registry.Protocol) -> str:
    # How the validation data is drawn is part of the factor: random windows of the training
    # share (their frames sit in training windows too) or whole held-out training clips.
    if spec.monitor == "val" and spec.split == "random":
        return "the loss on a validation split of random windows carved from training"
    if spec.monitor == "val" and spec.split == "clip-kfold":
        return "the loss on the windows of whole training clips held out for validation"
    return WATCHES.get(spec.monitor, spec.monitor)


def _trained_on(spec: registry.Protocol) -> str:
    if spec.split == "random":
        return "the training share of the test set's windows (test-set video only)"
    if spec.split == "clip-kfold":
        return ("windows of the other test clips and of the normal Train clips" if spec.train_clips
                else "windows of the other test clips only")
    return "frames of the normal Train clips only (no labels, no anomaly seen)"


def _tested(spec: registry.Protocol) -> str:
    if spec.split == "random":
        return "the test share of the windows (their frames may also sit in training windows)"
    if spec.split == "clip-kfold":
        if spec.tests != "originals":
            return "every window of the held-out clips"
        # The same on both clip-grouped rungs: whether Train frames train is "training data"'s.
        return "the original frames of the held-out test clips (copies and Train-clip frames are never tested)"
    return "every test-clip frame"


def _auc(spec: registry.Protocol, legacy: bool, folds: int | None) -> str:
    if spec.split == "clip-kfold":
        k = folds or "k"
        if legacy:
            return f"one ROC-AUC per run over the {k} folds' predictions pooled (biased at unequal fold class ratios)"
        return f"mean over the {k} folds of each fold's ROC-AUC, then over runs"
    if spec.split == "random":
        return "each run's test ROC-AUC (one split per run), mean over runs"
    return "one ROC-AUC over the scored frames per run, mean over runs"


def _mean_per_fit(doc: d.Doc, p: str, key: str) -> float | None:
    vals = [v for n in d.names(doc, p) if (v := d.per_fit(d.entries(doc)[(p, n)], key)) is not None]
    return sum(vals) / len(vals) if vals else None


def factors(doc: d.Doc, p: str) -> dict[str, str]:
    """Every factor of rung ``p`` a step can change, as text (equal text: unchanged)."""
    doc = d.read(doc)
    spec = registry.PROTOCOLS[p]
    configs = [d.entries(doc)[(p, n)].get("config") or {} for n in d.names(doc, p)]
    folds = next((c.get("n_folds") for c in configs if c.get("n_folds")), None)
    unit = "windows" if spec.windows != "frames" else "frames"
    size = lambda k: NA if (v := _mean_per_fit(doc, p, k)) is None else f"{v:.0f} {unit}"  # noqa: E731
    return {
        "model": ("supervised heads trained on labelled test-set anomalies" if spec.trains_heads
                  else "one-class scorers fit on normal frames"),
        "windows": WINDOWS.get(spec.windows, spec.windows),
        "split": _split(spec, folds if spec.split == "clip-kfold" else None),
        "early stopping watches": _watches(spec),
        "training data": _trained_on(spec),
        "what is tested": _tested(spec),
        "training size (mean per fit)": size("n_train"),
        "test size (mean per fit)": size("n_test"),
        "test frames inside training windows (mean share)": pct(d.run_share(d.rung_runs(doc, p),
                                                                                   "test_frames_in_train")),
        "AUC method": _auc(spec, d.legacy(doc), folds),
    }


def changes(doc: d.Doc, before: str, after: str) -> list[tuple[str, str, str]]:
    """``[(factor, before's value, after's value)]`` for every factor the step changes."""
    a, b = factors(doc, before), factors(doc, after)
    return [(k, a[k], b[k]) for k in a if a[k] != b[k]]


def claims(doc: d.Doc, before: str, after: str) -> list[str]:
    """The paired differences recorded for the step ``before`` -> ``after``, each read by its interval."""
    out = []
    for c in d.comparisons(doc):
        (ra, ha), (rb, _) = d.split_key(c.get("a")), d.split_key(c.get("b"))
        if (ra, rb) != (after, before):
            continue
        who = f"mean of the recurrent heads ({ha.replace('+', ', ')})" if "recurrent mean" in str(c.get("kind")) else ha
        out.append(f"{who}: {difference_text(c)}")
    return out


def steps(doc: d.Doc) -> list[tuple[str, str]]:
    """The steps to describe: neighbouring rungs that ran, then the headline's contrast
    (``paper`` to the rung the headline reads) when those are not neighbours."""
    doc = d.read(doc)
    ran = d.ran(doc)
    out = list(pairwise(ran))
    target = d.target_rung(doc)
    if "paper" in ran and target in ran and ("paper", target) not in out:
        out.append(("paper", target))
    return out


def step_section(doc: d.Doc, before: str, after: str) -> list[str]:
    """Markdown lines for one step: every factor it changes, what its difference measures,
    and the paired differences recorded for it."""
    doc = d.read(doc)
    changed = changes(doc, before, after)
    lines = [f"### `{before}` → `{after}`", ""]
    designed = registry.PROTOCOLS[after].removes
    ladder = list(registry.PROTOCOLS)
    if ladder.index(after) == ladder.index(before) + 1 and designed:
        lines += [f"The rung `{after}` is designed to remove {designed}. The step changes "
                  f"{len(changed)} factor{'s' if len(changed) != 1 else ''}:", ""]
    else:
        lines += [f"This contrast spans several rungs and changes {len(changed)} factors:", ""]
    lines += [f"- {k}: {a} → {b}" for k, a, b in changed]
    measured = ("measures this one change" if len(changed) == 1 else
                "measures all of these together and cannot be credited to any one of them")
    lines += ["", f"The difference between `{before}` and `{after}` {measured}."]
    found = claims(doc, before, after)
    if found:
        lines += ["", f"Paired differences of the mean per-fold ROC-AUC, `{after}` − `{before}` on the same test "
                      "clips, with their 95% clip-bootstrap interval:", "", *[f"- {c}" for c in found]]
    elif not d.legacy(doc) and d.supervised(before) and d.supervised(after):
        lines += ["", "No paired difference is recorded for this step."]
    return lines + [""]


def step_words(doc: d.Doc, before: str, after: str) -> str:
    """``"windows, split and training size (mean per fit)"``: the factor names a step changes."""
    names = [k for k, _, _ in changes(doc, before, after)]
    if len(names) < 2:
        return names[0] if names else "nothing"
    return ", ".join(names[:-1]) + f" and {names[-1]}"


def all_steps(doc: d.Doc) -> list[str]:
    return [line for a, b in steps(doc) for line in step_section(doc, a, b)]
