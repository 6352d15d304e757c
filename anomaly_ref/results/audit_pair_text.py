"""``pair.md``: two audits compared on one rung (:mod:`anomaly_ref.studies.audit_pair`'s
document), every differing factor listed before the figures, each difference read by its
interval and credited to all of those factors together."""

from __future__ import annotations

import json
from typing import Any, Mapping

from .audit_fmt import DASH, NA, bracket, cell, difference_text, fmt, signed

CONDITIONING = ("The interval resamples test clips with the trained models held fixed (each clip also "
                "trained the other folds' models, so this is an interval for these fits, not for a new "
                "training). With 12 clips in 4 folds a nominal 95% interval of the mean per-fold AUC covers "
                "about 92% (bench/bootstrap_coverage.py).")


def _value(v: Any) -> str:
    if v is None:
        return DASH
    return cell(v if isinstance(v, str) else json.dumps(v, sort_keys=True))


def to_markdown(doc: Mapping[str, Any]) -> str:
    a, b, mean = doc["a"], doc["b"], doc["recurrent_mean"]
    name_a, name_b = f"`{a['folder']}` (`{a['rung']}`)", f"`{b['folder']}` (`{b['rung']}`)"
    frames = doc["frames"]
    lines = [f"# {a['folder']} − {b['folder']} under `{a['rung']}`"
             + (f" / `{b['rung']}`" if b["rung"] != a["rung"] else ""), "",
             f"a = {name_a}; b = {name_b}. Statistic: mean per-fold ROC-AUC over runs, on the original frames "
             f"of the {doc['n_clips']} test clips both audits score (a: {frames['a']} frames, b: {frames['b']}, "
             f"both: {frames['both']}; {'the same frames' if frames['identical'] else 'not the same frames'}); "
             f"95% interval of a − b from a paired clip bootstrap ({mean['n_resamples']} resamples, one draw for "
             "both sides and every head).", ""]
    factors = doc["factors"]
    if factors:
        lines += [f"## What differs between a and b ({len(factors)} factor{'s' if len(factors) != 1 else ''})", "",
                  "| factor | a | b |", "|---|---|---|",
                  *[f"| {cell(f['factor'])} | {_value(f['a'])} | {_value(f['b'])} |" for f in factors], ""]
        credit = ("The difference measures all of these together" if len(factors) > 1
                  else "The difference measures this one factor")
        lines += [f"{credit}; it is not credited to any one of them unless it is the only one.", ""]
    else:
        lines += ["No recorded factor differs between a and b: a difference is run-to-run noise.", ""]
    lines += ["## Differences", "", "| heads | a | b | a − b [95% CI] |", "|---|---|---|---|"]
    for r in [*doc["heads"], mean]:
        label = "mean of the recurrent heads" if r is mean else r["head"]
        lines.append(f"| {cell(label)} | {fmt(r['a'])} | {fmt(r['b'])} | {cell(difference_text(r))} |")
    lines += ["", _reading(mean), "", CONDITIONING, ""]
    return "\n".join(lines)


def _reading(mean: Mapping[str, Any]) -> str:
    low, high = mean.get("low"), mean.get("high")
    if low is None or high is None or low != low or high != high:
        return f"The mean's difference has no defined interval ({NA})."
    span = bracket(low, high, sign=True)
    if low > 0 or high < 0:
        return (f"The recurrent heads' mean differs by {signed(mean['difference'])}, 95% CI {span}: the interval "
                "excludes 0.")
    return (f"No difference in the recurrent heads' mean is detectable: {signed(mean['difference'])}, 95% CI {span}; "
            "a difference larger than the interval's ends is unlikely, one inside it is not ruled out.")
