"""``pair.md``: two audits compared on one rung (:mod:`anomaly_ref.studies.audit_pair`'s
document), every differing factor listed before the figures, each difference read by its
interval and credited to all of those factors together."""

from __future__ import annotations

import json
from typing import Any, Mapping

from .audit_fmt import DASH, NA, bracket, cell, difference_text, fmt, signed

CONDITIONING = ("The interval resamples test clips with the trained models held fixed (each clip also "
                "trained the other folds' models, so this is an interval for these fits, not for a new "
                "training). Its coverage is not measured for a paired difference; a single figure's nominal "
                "95% interval with 12 clips in 4 folds covered 85-92% in simulation, depending on the clip "
                "mix (bench/bootstrap_coverage.py): read it as narrower than 95%.")


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
    lines += ["## Differences", "",
              "| heads | a | b | a − b [95% CI] | bootstrap mean | basic 95% CI | run by run (min to max) |",
              "|---|---|---|---|---|---|---|"]
    for r in [*doc["heads"], mean]:
        label = "mean of the recurrent heads" if r is mean else r["head"]
        runs = list((r.get("per_run") or {}).values())
        spread = f"{signed(min(runs))} to {signed(max(runs))} ({len(runs)} runs)" if runs else NA
        verdict = difference_text(r) + ("; the basic interval disagrees: unresolved" if r.get("fragile") else "")
        lines.append(f"| {cell(label)} | {fmt(r['a'])} | {fmt(r['b'])} | {cell(verdict)} | "
                     f"{signed(r.get('bootstrap_mean'))} | {bracket(r.get('basic_low'), r.get('basic_high'), sign=True)} "
                     f"| {spread} |")
    lines += ["", _reading(mean), "", CONDITIONING, ""]
    return "\n".join(lines)


def _reading(mean: Mapping[str, Any]) -> str:
    low, high = mean.get("low"), mean.get("high")
    if low is None or high is None or low != low or high != high:
        return f"The mean's difference has no defined interval ({NA})."
    span = bracket(low, high, sign=True)
    if mean.get("fragile"):
        return (f"Unresolved: the recurrent heads' mean differs by {signed(mean['difference'])}; the percentile "
                f"interval {span} and the basic bootstrap interval "
                f"{bracket(mean.get('basic_low'), mean.get('basic_high'), sign=True)} disagree on whether it "
                f"excludes 0 (bootstrap mean {signed(mean.get('bootstrap_mean'))}: the resampling is biased here), "
                "so neither a difference nor its absence is claimed.")
    if low > 0 or high < 0:
        return (f"The recurrent heads' mean differs by {signed(mean['difference'])}, 95% CI {span}: the interval "
                "excludes 0.")
    return (f"No difference in the recurrent heads' mean is detectable: {signed(mean['difference'])}, 95% CI {span}; "
            "a difference larger than the interval's ends is unlikely, one inside it is not ruled out.")
