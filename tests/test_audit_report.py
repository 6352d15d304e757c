"""The audit report: synthetic audit documents in (format 2, as issue 21's audit writes them,
and format 1, as the committed reference audits are), the tables, text, plot and files out."""

from __future__ import annotations

import ast
import json
import math
import struct
from pathlib import Path

import pytest

from anomaly_ref import registry
from anomaly_ref.errors import InputError
from anomaly_ref.results import audit_plot, audit_report, audit_steps
from anomaly_ref.results.audit_report import (
    ladder_paragraph,
    ladder_table,
    plot_data,
    plot_ladder,
    to_markdown,
    write_audit,
)
from anomaly_ref.results.audit_tables import LADDER_COLUMNS

HEADS = list(registry.HEADS)  # LSTM, GRU, LSTM_GRU, SimpleRNN, Dense, last-frame
RECURRENT = registry.paper_heads()
SCORERS = ["knn1", "mahalanobis"]
LADDER = list(registry.PROTOCOLS)  # paper, paper-val, temporal, strict-test-only, strict, standard
SUPERVISED = [p for p in LADDER if p != "standard"]
MONITOR = {p.name: p.monitor for p in registry.PROTOCOLS.values()}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
GOLDEN = Path(__file__).resolve().parent / "golden" / "audit.json"
REAL_FORMAT_1 = Path(__file__).resolve().parent / "data" / "audit_format1_ped2_lite0.json"


def table_rows(table: str, key_cols: int = 1) -> dict:
    """``{first key_cols cells: remaining cells}`` from a Markdown table (backticks stripped)."""
    rows = {}
    for line in table.splitlines()[2:]:
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split(" | ")]
        key = cells[0] if key_cols == 1 else tuple(cells[:key_cols])
        rows[key] = cells[key_cols:]
    return rows


# ------------------------------------------------------------------ format-2 documents


def stats(auc: float, half: float = 0.02, n_runs: int = 2, std: float | None = 0.004, band=(0.42, 0.58),
          raw: float | None = None, epochs=(3, 0)) -> dict:
    """An entry's ``stats`` as ``audit_stats.describe`` writes it, around the headline ``auc``."""
    one = n_runs < 2 or std is None
    return {
        "headline": "mean_fold_auc",
        "mean_fold_auc": {"estimate": auc, "interval": {"low": auc - half, "high": auc + half, "level": 0.95,
                                                        "n_resamples": 1000},
                          "per_run": {"mean": auc, "n": n_runs, "std": None if one else std,
                                      "std_sample": None if one else std * math.sqrt(n_runs / (n_runs - 1))},
                          "per_fold": {"mean": auc, "n": 4, "std": 0.05, "std_sample": 0.06}},
        "rank_pooled_auc": {"estimate": auc - 0.001, "interval": {"low": auc - half - 0.001, "high": auc + half - 0.001}},
        "raw_pooled_auc": {"estimate": auc - 0.05 if raw is None else raw},
        "within_clip_auc": {"estimate": auc - 0.01, "clips": {"1": auc - 0.02, "2": auc, "3": None}},
        "chance": {"base_rate": {"mean_fold_auc": 0.5, "rank_pooled_auc": 0.5, "raw_pooled_auc": 0.38,
                                 "within_clip_auc": 0.5},
                   "permutation": {"low": band[0], "high": band[1], "mean": 0.5, "level": 0.95, "n_permutations": 200,
                                   "p_value": 0.005}},
        "fits": {"n": len(epochs), "weights_epochs": list(epochs)},
    }


def entry2(protocol: str, head: str, auc: float, n_runs: int = 2, **kw) -> dict:
    """A format-2 result entry: ProtocolResult.to_dict() plus its stats; k-fold rungs have 4 folds a run."""
    kfold = registry.PROTOCOLS[protocol].split == "clip-kfold"
    n_train = {"paper": 1600, "paper-val": 1280, "temporal": 1280, "strict-test-only": 900, "strict": 3200,
               "standard": 2550}[protocol]
    epochs = kw.pop("epochs", (3, 0))
    folds = [{"fold": f, "n_train": n_train, "n_test": 100, "weights_epoch": epochs[f % len(epochs)],
              "test_clips": [str(f + 1)]} for f in range(4)] if kfold else []
    metrics = {"accuracy": 0.9, "precision": 0.9, "recall": 0.9, "f1": 0.9, "roc_auc": auc}
    runs = [{"run": r, "metrics": metrics, "monitor": MONITOR[protocol], "n_train": n_train * (4 if kfold else 1),
             "n_test": 400, "weights_epoch": None if kfold or protocol == "standard" else epochs[r % len(epochs)],
             "test_frames_in_train": 0.0 if kfold or protocol == "standard" else 0.99,
             "test_frames_in_val": {"paper": 1.0, "standard": None}.get(protocol, 0.0 if kfold else 0.8), "folds": folds}
            for r in range(n_runs)]
    summary = {m: {"mean": v, "std": 0.001} for m, v in metrics.items()}
    return {"protocol": protocol, "head": head, "config": {"n_folds": 4, "train": {"patience": 5, "max_epochs": 50}},
            "runs": runs, "summary": summary, "stats": stats(auc, n_runs=n_runs, epochs=epochs, **kw)}


def comparison(kind: str, a: str, b: str, diff: float, low: float, high: float) -> dict:
    return {"kind": kind, "a": a, "b": b, "difference": diff, "low": low, "high": high, "level": 0.95,
            "n_clips": 12, "n_resamples": 1000, "statistic": "mean_fold_auc"}


AUCS = {"paper": 0.996, "paper-val": 0.99, "temporal": 0.98, "strict-test-only": 0.52, "strict": 0.55}


def doc2(rungs=LADDER, comparisons: list[dict] | None = None, skipped=(), probes=None) -> dict:
    """A format-2 audit of every head on ``rungs`` (standard: two deterministic one-class scorers)."""
    results = []
    for p in rungs:
        if p == "standard":
            results += [entry2(p, s, a, n_runs=1, std=None, epochs=(None,)) for s, a in zip(SCORERS, (0.75, 0.81))]
        else:
            results += [entry2(p, h, AUCS[p] - 0.001 * i, band=(0.40, 0.60) if p.startswith("strict") else (0.45, 0.55))
                        for i, h in enumerate(HEADS)]
    if comparisons is None:
        comparisons = [comparison("sequence vs last-frame", "paper/LSTM", "paper/last-frame", 0.0008, -0.0012, 0.0030),
                       comparison("sequence vs last-frame", "paper/GRU", "paper/last-frame", 0.0040, 0.0010, 0.0070),
                       comparison("rung vs rung", "paper-val/LSTM", "paper/LSTM", -0.006, -0.011, -0.001),
                       comparison("rung vs rung", "strict/GRU", "strict-test-only/GRU", 0.03, -0.02, 0.08),
                       comparison("recurrent mean, rung vs rung", f"strict/{'+'.join(RECURRENT)}",
                                  f"paper/{'+'.join(RECURRENT)}", -0.4475, -0.52, -0.38)]
    return {
        "kind": "audit",
        "audit": {"format": 2, "dataset": "ped2", "backbone": "tf_efficientnet_lite0", "pretrained": True,
                  "protocols": [p for p in rungs], "heads": HEADS, "scorers": SCORERS if "standard" in rungs else [],
                  "skipped": list(skipped), "n_frames": 2010, "n_train_frames": 2550, "wall_seconds": 99.0,
                  "construction": None, "probes": probes, "comparisons": comparisons,
                  "partitions": {"strict": [[["1"], ["2"], ["3"], ["4"]], [["2"], ["1"], ["4"], ["3"]]]},
                  "comparable": {"rung": "strict", "rule": "the frames strict scores", "rows": [
                      {"supervised": "strict/LSTM", "one_class": "standard/knn1", "n_items": 1800, "n_clips": 12,
                       "mean_fold_auc": {"supervised": 0.55, "one_class": 0.74},
                       "rank_pooled_auc": {"supervised": 0.54, "one_class": 0.73},
                       "difference": {"difference": -0.19, "low": -0.3, "high": -0.08}}]},
                  "stats": {"level": 0.95, "n_resamples": 1000, "n_permutations": 200, "seed": 0},
                  "scores_file": "scores.csv.gz", "scores_sha256": "ab" * 32, "scores_rows": 12345},
        "results": results,
        "provenance": {"git": {"commit": "abc123", "dirty": False}, "utc": "2025-01-02T03:04:05+00:00",
                       "argv": ["/home/u/.venv/bin/anomaly-ref", "audit", "--dataset", "ped2"]},
    }


# ------------------------------------------------------------------ format-1 documents


def entry1(protocol: str, head: str, auc: float, std: float = 0.001, acc: float = 0.95,
           overlap: float | None = 0.5, n_runs: int = 2) -> dict:
    """A format-1 result entry: no stats; its summary over runs only."""
    metrics = {"accuracy": acc, "precision": acc, "recall": acc, "f1": acc, "roc_auc": auc}
    runs = [{"run": r, "metrics": metrics, "monitor": MONITOR[protocol], "test_frames_in_train": overlap,
             "n_train": 100, "n_val": 20, "n_test": 30, "epochs": 5, "folds": []} for r in range(n_runs)]
    summary = {m: {"mean": v, "std": std if m == "roc_auc" else 0.0} for m, v in metrics.items()}
    return {"protocol": protocol, "head": head, "config": {}, "runs": runs, "summary": summary}


def doc1(results: list[dict], skipped=()) -> dict:
    """A format-1 document (no ``format``): its ``strict`` trained on the test clips only."""
    return {"audit": {"dataset": "ped2", "backbone": "tf_efficientnet_lite0", "pretrained": True,
                      "protocols": ["paper", "paper-val", "temporal", "strict", "standard"], "heads": HEADS,
                      "scorers": SCORERS, "skipped": list(skipped), "n_frames": 2010, "n_train_frames": 2550},
            "results": results, "provenance": {"git": {"commit": "abc123", "dirty": False}}}


def legacy_full() -> dict:
    results = [entry1("paper", h, a) for h, a in zip(RECURRENT, (0.99, 0.98, 0.99, 0.98))]
    results += [entry1("paper", "Dense", 0.97), entry1("paper", "last-frame", 0.90)]
    results += [entry1(p, h, a) for p, a in (("paper-val", 0.97), ("temporal", 0.95), ("strict", 0.70)) for h in HEADS]
    results += [entry1("standard", "knn1", 0.9012, std=0.0, overlap=0.0, n_runs=1),
                entry1("standard", "mahalanobis", 0.8811, std=0.0, overlap=0.0, n_runs=1)]
    return doc1(results)


# --------------------------------------------------------------------------- the ladder


def test_ladder_has_a_row_per_rung_and_head_in_ladder_order():
    doc = doc2()
    doc["results"] = doc["results"][::-1]  # the table orders by the ladder, not by the document
    table = ladder_table(doc)
    assert [c.strip() for c in table.splitlines()[0].strip("|").split(" | ")] == LADDER_COLUMNS
    rows = table_rows(table, key_cols=2)
    assert list(rows) == [(p, h) for p in SUPERVISED for h in HEADS] + [("standard", s) for s in SCORERS]
    assert "raw pooled ROC-AUC (biased on k-fold rungs)" in LADDER_COLUMNS
    assert rows[("strict", "LSTM")] == ["0.5500 [0.5300, 0.5700]", "± 0.0057 (0.0040)", "0.5490 [0.5290, 0.5690]",
                                        "0.5000", "[0.4000, 0.6000], p = 0.005"]


def test_every_mean_has_its_interval_beside_it():
    doc = doc2()
    for (p, name), cells in table_rows(ladder_table(doc), key_cols=2).items():
        assert cells[0].endswith("]") and " [" in cells[0], (p, name, cells[0])  # mean per-fold [CI]
        assert cells[2].endswith("]") and " [" in cells[2], (p, name, cells[2])  # rank-pooled [CI]
    lead = audit_report.headline(doc)
    assert "0.9945 under `paper` (the heads' 95% CIs span [0.9730, 1.0160])" in lead
    assert "0.5485 under `strict` (the heads' 95% CIs span [0.5270, 0.5700]" in lead


def test_a_single_deterministic_run_has_no_plus_minus():
    doc = doc2()
    rows = table_rows(ladder_table(doc), key_cols=2)
    assert rows[("standard", "knn1")][1] == "— (1 run)"
    assert not any("±" in c for c in rows[("standard", "knn1")] + rows[("standard", "mahalanobis")])
    # format 1: one run (the deterministic scorers) has no spread either
    legacy = table_rows(ladder_table(legacy_full()))
    assert legacy["standard"][len(HEADS):len(HEADS) + 2] == ["0.9012, acc 0.950", "0.8811, acc 0.950"]
    assert legacy["paper"][0] == "0.9900 ± 0.0014 (0.0010), acc 0.950"  # sample std (population std)


def test_per_rung_table_has_the_chance_references_and_leakage():
    rows = table_rows(audit_report.rung_table(doc2()))
    assert list(rows) == LADDER
    assert rows["paper"] == ["test split", "99.0%", "100.0%", "0.5000 / 0.5000 / 0.3800"]
    assert rows["strict"][:3] == ["validation split", "0.0%", "0.0%"] and rows["standard"][2] == "—"


def test_skipped_rung_is_a_row_with_its_reason():
    doc = doc2(rungs=["paper"], skipped=[{"protocol": "standard", "reason": "no training | frames"}])
    rows = table_rows(ladder_table(doc), key_cols=2)
    assert [p for p, _ in rows] == ["paper"] * len(HEADS) + ["standard"]
    assert "| `standard` | skipped: no training \\| frames |" in ladder_table(doc)  # a '|' would break the row


def test_nan_shows_n_a():
    doc = doc2(rungs=["paper", "strict"])
    e = next(e for e in doc["results"] if (e["protocol"], e["head"]) == ("strict", "LSTM"))
    e["stats"]["mean_fold_auc"]["estimate"] = None  # NaN, as the JSON file holds it
    e["stats"]["mean_fold_auc"]["interval"] = {"low": None, "high": None}
    assert table_rows(ladder_table(doc), key_cols=2)[("strict", "LSTM")][0] == "n/a"


# ----------------------------------------------------------------- headline and claims


def test_headline_leads_with_the_drop_its_interval_and_the_chance_band():
    doc = doc2()
    lead = audit_report.headline(doc)
    assert lead.startswith("Mean per-fold ROC-AUC of the paper's recurrent heads (LSTM, GRU, LSTM_GRU, SimpleRNN): ")
    assert "label-permutation chance band [0.4000, 0.6000]" in lead
    # figure and interval come from the same paired comparison (0.4475); the two means above
    # it differ by 0.4460 here (the fixture's comparison is over other items), and it says so
    assert lead.endswith("a drop of 0.4475 (on the clips both rungs score; 0.4460 between the two means above), "
                         "95% CI of the drop [+0.3800, +0.5200] (paired clip bootstrap over 12 test clips).")
    md = to_markdown(doc)
    assert md.splitlines()[2] == f"**{lead}**"  # audit.md leads with it
    assert ladder_paragraph(doc).startswith(lead + " ")


def test_headline_quotes_the_recurrent_means_own_interval_and_band_where_recorded():
    doc = doc2()
    doc["audit"]["rungs"] = {
        "paper": {"estimate": 0.9955, "interval": {"low": 0.9921, "high": 0.9983, "level": 0.95},
                  "chance": {"low": 0.37, "high": 0.80, "level": 0.95}},
        "strict": {"estimate": 0.5485, "interval": {"low": 0.4601, "high": 0.6312, "level": 0.95},
                   "chance": {"low": 0.3811, "high": 0.7102, "level": 0.95}}}
    lead = audit_report.headline(doc)
    assert "under `paper` (95% CI [0.9921, 0.9983])" in lead
    assert "under `strict` (95% CI [0.4601, 0.6312]; label-permutation chance band [0.3811, 0.7102])" in lead
    assert "CIs span" not in lead  # the span of the heads' intervals only stands in where no interval was recorded


def test_headline_of_a_construction_says_paper_scores_the_copies():
    doc = doc2(comparisons=[comparison("recurrent mean, rung vs rung", f"strict/{'+'.join(RECURRENT)}",
                                       f"paper/{'+'.join(RECURRENT)}", -0.4460, -0.52, -0.38)])
    assert "a drop of 0.4460, 95% CI" in audit_report.headline(doc)  # the same figure: no scope note
    doc["audit"]["construction"] = {"rows": 5824, "copies": 1264, "train_clip_frames": 2550}
    assert ("a drop of 0.4460 (`paper` scores the flip / rotation copies too, as the paper did; `strict` original "
            "frames only), 95% CI") in audit_report.headline(doc)


def test_headline_says_when_the_drop_is_not_detectable():
    doc = doc2(comparisons=[comparison("recurrent mean, rung vs rung", "strict/LSTM+GRU", "paper/LSTM+GRU",
                                       -0.01, -0.05, 0.03)])
    assert audit_report.headline(doc).endswith("(paired clip bootstrap over 12 test clips): no difference "
                                               "detectable at this resolution.")


def test_headline_falls_back_to_strict_test_only_and_says_why():
    doc = doc2(rungs=[p for p in LADDER if p != "strict"], skipped=[{"protocol": "strict", "reason": "no Train clips"}],
               comparisons=[comparison("recurrent mean, rung vs rung", "strict-test-only/LSTM", "paper/LSTM",
                                       -0.4, -0.45, -0.35)])
    lead = audit_report.headline(doc)
    assert "under `strict-test-only` (" in lead and "a drop of" in lead
    assert "(`strict`, which adds the normal Train clips to training, was skipped (no Train clips))" in lead
    missing = doc2(rungs=["paper"], comparisons=[], skipped=[{"protocol": "strict", "reason": "no clip ids"}])
    assert audit_report.headline(missing).endswith("`strict` was skipped (no clip ids), so the drop from `paper` to "
                                                   "`strict` cannot be stated.")


@pytest.mark.parametrize("low, high, reading", [
    (-0.0012, 0.0030, "no difference detectable at this resolution"),  # the interval holds 0
    (0.0001, 0.0030, "differs"),  # a tiny difference whose interval excludes 0 is still a difference
    (-0.2, -0.1, "differs"),
])
def test_a_same_as_claim_follows_the_comparisons_interval(low, high, reading):
    doc = doc2(comparisons=[comparison("sequence vs last-frame", "paper/LSTM", "paper/last-frame", 0.0008, low, high)])
    md = to_markdown(doc)
    sign = lambda x: f"{'+' if x >= 0 else '−'}{abs(x):.4f}"  # noqa: E731
    claim = f"LSTM vs last-frame under `paper`: +0.0008 [{sign(low)}, {sign(high)}]: {reading}"
    assert f"- {claim}" in md and claim in ladder_paragraph(doc)
    assert not hasattr(audit_report, "SAME_AUC")  # no fixed threshold anywhere


def test_the_exact_claim_of_the_brief():
    md = to_markdown(doc2())
    assert "- LSTM vs last-frame under `paper`: +0.0008 [−0.0012, +0.0030]: no difference detectable at this " \
           "resolution" in md
    assert "- GRU vs last-frame under `paper`: +0.0040 [+0.0010, +0.0070]: differs" in md


# ---------------------------------------------------------------------- the steps


def test_each_step_lists_every_factor_it_changes():
    doc = doc2()
    changed = {(a, b): [k for k, _, _ in audit_steps.changes(doc, a, b)] for a, b in audit_steps.steps(doc)}
    assert list(changed)[:5] == list(zip(LADDER, LADDER[1:]))
    assert changed[("paper", "paper-val")] == ["early stopping watches", "training size (mean per fit)"]
    assert changed[("paper-val", "temporal")] == ["windows"]  # same sizes and shares in this document
    assert changed[("temporal", "strict-test-only")] == [  # early stopping: random windows -> held-out clips
        "split", "early stopping watches", "training data", "what is tested", "training size (mean per fit)", "test size (mean per fit)",
        "test frames inside training windows (mean share)", "AUC method"]
    assert changed[("strict-test-only", "strict")] == ["training data", "training size (mean per fit)"]
    assert changed[("strict", "standard")][0] == "model" and "early stopping watches" in changed[("strict", "standard")]
    assert ("paper", "strict") in changed  # the headline's contrast, spanning several rungs
    f = audit_steps.factors(doc, "strict")
    assert f["training size (mean per fit)"] == "3200 windows" and f["test size (mean per fit)"] == "100 windows"
    assert f["AUC method"] == "mean over the 4 folds of each fold's ROC-AUC, then over runs"
    assert audit_steps.factors(doc, "paper")["AUC method"].startswith("each run's test ROC-AUC")
    assert audit_steps.factors(doc, "temporal")["early stopping watches"] == \
        "the loss on a validation split of random windows carved from training"
    assert audit_steps.factors(doc, "strict-test-only")["early stopping watches"] == \
        "the loss on the windows of whole training clips held out for validation"


def test_a_step_claims_only_what_its_contrast_measures():
    md = to_markdown(doc2())
    section = md.split("### `strict-test-only` → `strict`")[1].split("###")[0]
    assert "- training data: windows of the other test clips only → windows of the other test clips and of the normal " \
           "Train clips" in section
    assert "measures all of these together and cannot be credited to any one of them" in section
    assert "- GRU: +0.0300 [−0.0200, +0.0800]: no difference detectable at this resolution" in section
    one = to_markdown(doc2(rungs=["paper", "paper-val"]))
    assert "- LSTM: −0.0060 [−0.0110, −0.0010]: differs" in one
    # the paragraph names every factor of its largest step, not only the leakage the rung removes
    assert "that step changes split, early stopping watches, training data, what is tested" in ladder_paragraph(doc2())


# --------------------------------------------------------------- the other sections


def test_audit_md_holds_every_part_of_a_format_2_document():
    md = to_markdown(doc2())
    for heading in ("## The ladder", "## Does the sequence help?", "## What each step changes",
                    "## `strict` beside `standard` on identical frames", "## Fits and early stopping",
                    "## Within-clip ROC-AUC", "## Partitions", "## Scores", "## The rungs", "## Provenance"):
        assert heading in md, heading
    assert "## The paper's construction" not in md  # no probes in a plain frames audit
    assert "| `strict/LSTM` | `standard/knn1` | 1800 (12) | 0.5500 / 0.7400 | 0.5400 / 0.7300 | " \
           "−0.1900 [−0.3000, −0.0800]: differs |" in md
    assert "- `strict` run 1: fold 0 {2}; fold 1 {1}; fold 2 {4}; fold 3 {3}" in md
    assert "`scores.csv.gz` beside this file (12345 rows" in md and "any figure here can be recomputed from it" in md
    assert "git abc123 (clean)" in md and "- run at: 2025-01-02 03:04 UTC" in md and "/home/u" not in md


def test_fits_table_and_the_early_stopping_policy():
    doc = doc2()
    rows = table_rows(audit_report.fits_table(doc))
    assert list(rows) == SUPERVISED
    assert rows["strict"][0] == "4 of 8 (50.0%)" and rows["paper"][0] == "1 of 2 (50.0%)"
    from anomaly_ref.protocol.train import TrainConfig
    from anomaly_ref.results.audit_text import NOTEBOOKS

    assert (NOTEBOOKS.patience, NOTEBOOKS.max_epochs) == (TrainConfig().patience, TrainConfig().max_epochs)
    assert TrainConfig().restore_best_weights
    policy = audit_report.early_stopping(doc)
    assert "patience 5 epochs" in policy and "best epoch's weights restored" in policy and "at most 50 epochs" in policy
    assert "unchanged" in policy and "this audit ran with" not in policy
    doc["results"][0]["config"]["train"]["max_epochs"] = 8
    assert "this audit ran with at most 8/50 epochs" in audit_report.early_stopping(doc)


def test_within_clip_summary():
    rows = table_rows(audit_report.within_clip_table(doc2()), key_cols=2)
    assert rows[("paper", "LSTM")] == ["0.9860", "2", "0.9760", "0.9960"]  # the clip without both classes left out


def test_the_construction_section_reads_the_probes():
    probes = {"scored": [{"rung": "paper", "head": "LSTM", "copy_vs_original": {"auc": 0.97, "per_run_mean": 0.96,
                                                                                 "n_positive": 84, "n_negative": 422}}],
              "trained": [entry2("strict", "LSTM", 0.99) | {"protocol": "probe:is-copy"}],
              "targets": {"is-copy": "among abnormal frames: a copy (1) or an original (0)"}, "skipped": []}
    doc = doc2(probes=probes)
    doc["audit"]["construction"] = {"rows": 5000, "copies": 1266, "train_clip_frames": 2550, "test_clip_originals": 1184}
    md = to_markdown(doc)
    assert "## The paper's construction: shortcut probes" in md and "1266 flip / rotation copies" in md
    assert "| `paper` | LSTM | 0.9700 (per-run mean 0.9600; 84 vs 422) | — |" in md
    assert "| is-copy | LSTM | 0.9900 [0.9700, 1.0100] | ± 0.0057 (0.0040) |" in md
    assert "far from 0.5 means the shortcut is there" in md


# ------------------------------------------------------------------- format 1 still renders


def test_a_format_1_document_renders_with_its_strict_as_strict_test_only():
    doc = legacy_full()
    before = json.dumps(doc)
    table = ladder_table(doc)
    header = [c.strip() for c in table.splitlines()[0].strip("|").split("|")]
    assert header == ["rung", *HEADS, *SCORERS, "early stopping watches", "test frames inside training windows",
                      "test frames inside watched windows"]
    rows = table_rows(table)
    assert list(rows) == ["paper", "paper-val", "temporal", "strict-test-only", "standard"]
    assert rows["paper"][-3:-1] == ["test split", "50.0%"]
    md = to_markdown(doc)
    assert "| `strict` |" not in md and "its `strict` rung trained on the test clips only, which is today's " \
                                        "`strict-test-only`" in md
    lead = audit_report.headline(doc)
    assert lead == ("Mean ROC-AUC of the paper's recurrent heads (LSTM, GRU, LSTM_GRU, SimpleRNN): 0.9850 under "
                    "`paper`; 0.7000 under `strict-test-only` (format 1's `strict`), a drop of 0.2850 (format 1: no "
                    "interval recorded).")
    assert "neither sameness nor a difference is claimed" in ladder_paragraph(doc)  # no paired comparison recorded
    assert audit_report.rung_summary(doc).startswith("5 of 6 rungs run (format 1: its strict shown as strict-test-only)")
    assert [r["rung"] for r in audit_report.ladder_records(doc)].count("strict-test-only") == len(HEADS)
    assert json.dumps(doc) == before  # the caller's document is not changed


def test_the_committed_format_1_reference_still_renders():
    doc = json.loads(REAL_FORMAT_1.read_text())
    md = to_markdown(doc)
    assert "0.4617 under `strict-test-only` (format 1's `strict`), a drop of 0.5344" in md
    assert plot_ladder(doc).startswith(PNG_SIGNATURE)


# ----------------------------------------------------------------------------- the plot


def test_plot_data_draws_each_rungs_chance_band_and_the_intervals():
    data = plot_data(doc2())
    assert data["rungs"] == LADDER and data["chance"] == 0.5
    assert set(data["bands"]) == set(LADDER)
    x0, x1, low, high = data["bands"]["strict"]
    assert (low, high) == (0.40, 0.60) and x0 < LADDER.index("strict") < x1
    assert data["bands"]["paper"][2:] == (0.45, 0.55)
    x, y, lo, hi, rung = data["series"]["LSTM"]["points"][4]
    assert rung == "strict" and (y, lo, hi) == pytest.approx((0.55, 0.53, 0.57))
    assert data["series"]["knn1"]["kind"] == "scorer" and data["series"]["Dense"]["kind"] == "other head"
    assert "95% CI" in data["ylabel"]
    legacy = plot_data(legacy_full())
    assert legacy["bands"] == {} and legacy["rungs"][3] == "strict-test-only"


def test_plot_is_a_png_of_the_figure_size():
    png = plot_ladder(doc2())
    assert png.startswith(PNG_SIGNATURE)
    width, height = struct.unpack(">II", png[16:24])  # IHDR follows the signature and chunk header
    assert (width, height) == (900, 450)
    assert plot_ladder(doc1([entry1("strict", "LSTM", math.nan, std=math.nan)])).startswith(PNG_SIGNATURE)


def test_plot_module_does_not_import_pyplot():
    # pyplot keeps global figures and may switch the process's backend; the module must not touch it
    tree = ast.parse(Path(audit_plot.__file__).read_text())
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {f"{n.module}.{a.name}" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
    assert "matplotlib.figure.Figure" in names and not any("pyplot" in n for n in names)


# ------------------------------------------------------------------- the golden document


def test_the_golden_audit_renders_every_part():
    doc = json.loads(GOLDEN.read_text())  # written by today's audit (tests/golden/make_golden.py)
    md = to_markdown(doc)
    rows = table_rows(ladder_table(doc), key_cols=2)
    assert len(rows) == len(doc["results"]) == 12
    assert rows[("strict", "GRU")] == ["0.8575 [0.7837, 0.9233]", "± 0.0546 (0.0386)", "0.8465 [0.7495, 0.9527]",
                                       "0.6898", "[0.7337, 0.8409], p = 0.015"]
    assert rows[("standard", "knn1")][1] == "— (1 run)"
    assert "GRU vs last-frame under `paper`: +0.0206 [−0.1366, +0.1643]: no difference detectable at this " \
           "resolution" in md
    assert "## What each step changes" in md and "## Partitions" in md
    bands = [e["stats"]["chance"]["permutation"] for e in doc["results"] if e["protocol"] == "strict"]
    assert plot_data(doc)["bands"]["strict"][2:] == (min(b["low"] for b in bands), max(b["high"] for b in bands))


# --------------------------------------------------------------------------- malformed


@pytest.mark.parametrize("mutate, match", [
    (lambda d: d.pop("results"), "missing key 'results'"),
    (lambda d: d["audit"].pop("heads"), "'audit' lacks 'heads'"),
    (lambda d: d["results"].append(entry2("paper", "LSTM", 0.5)), r"repeats protocol 'paper' with head 'LSTM'"),
    (lambda d: d["results"][0].update(protocol="leaky"), "protocol 'leaky'; valid: paper, paper-val"),
])
def test_malformed_documents_name_the_problem(mutate, match):
    doc = doc2(rungs=["paper"])
    mutate(doc)
    with pytest.raises(InputError, match=match):
        to_markdown(doc)


def test_dataset_without_anchors_says_so():
    doc = doc2(rungs=["paper"])
    doc["audit"]["dataset"] = "umn"
    assert "No published frame-level ROC-AUC under the standard protocol is recorded for UMN" in ladder_paragraph(doc)


# --------------------------------------------------------------------------- files


def test_write_audit_writes_the_three_files(tmp_path):
    doc = doc2(rungs=["paper", "strict"])
    doc["results"][0]["stats"]["mean_fold_auc"]["estimate"] = math.nan
    paths = write_audit(doc, tmp_path / "audit")
    assert set(paths) == {"json", "md", "png"}
    assert sorted(p.name for p in (tmp_path / "audit").iterdir()) == ["audit.json", "audit.md", "audit.png"]
    text = paths["json"].read_text()
    assert "NaN" not in text  # standard JSON: an undefined ROC-AUC is null
    back = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    assert back["results"][0]["stats"]["mean_fold_auc"]["estimate"] is None
    assert to_markdown(back) == to_markdown(doc)  # the file renders as the document did
    assert paths["md"].read_text(encoding="utf-8") == to_markdown(doc)
    assert paths["png"].read_bytes().startswith(PNG_SIGNATURE)


def test_write_audit_failing_render_keeps_the_results_apart(tmp_path, monkeypatch):
    monkeypatch.setattr(audit_report, "plot_ladder", lambda doc: 1 / 0)
    with pytest.raises(RuntimeError, match="rendering the audit failed .*results are saved in .*audit.unrendered.json"):
        write_audit(doc2(), tmp_path / "audit")
    assert [p.name for p in (tmp_path / "audit").iterdir()] == ["audit.unrendered.json"]
    assert json.loads((tmp_path / "audit" / "audit.unrendered.json").read_text())["audit"]["dataset"] == "ped2"


def test_write_audit_failing_render_leaves_old_files_untouched(tmp_path, monkeypatch):
    out = tmp_path / "audit"
    write_audit(doc2(), out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def broken(doc):
        raise RuntimeError("plot failed")

    monkeypatch.setattr(audit_report, "plot_ladder", broken)
    with pytest.raises(RuntimeError, match="plot failed"):
        write_audit(doc2(rungs=["paper"]), out)
    after = {p.name: p.read_bytes() for p in out.iterdir()}
    assert after.pop("audit.unrendered.json")  # the new results, set apart
    assert after == before  # the earlier audit byte-identical, no temp files


def test_write_audit_needs_the_parent_folder(tmp_path):
    with pytest.raises(InputError, match="parent folder .* does not exist"):
        write_audit(doc2(), tmp_path / "missing" / "audit")
    assert not (tmp_path / "missing").exists()


# ------------------------------------------------- the report's summary and workbook


def test_rung_counts_name_run_skipped_and_absent_rungs():
    doc = doc2(rungs=["paper", "strict"], skipped=[{"protocol": "standard", "reason": "no frames"}])
    assert audit_report.rung_counts(doc) == {"run": ["paper", "strict"], "skipped": ["standard"],
                                             "absent": ["paper-val", "temporal", "strict-test-only"]}
    assert audit_report.rung_counts(doc2()) == {"run": LADDER, "skipped": [], "absent": []}


def test_report_section_holds_the_headline_ladder_and_chance_table():
    doc = doc2()
    section = audit_report.report_section(doc)
    assert section.startswith("## Leakage audit: UCSD Ped2, tf_efficientnet_lite0\n\n" + audit_report.headline(doc))
    assert ladder_table(doc) in section and audit_report.rung_table(doc) in section
    assert "LSTM vs last-frame under `paper`: +0.0008" in section


def test_ladder_records_are_numbers_one_per_rung_and_head_or_scorer():
    records = audit_report.ladder_records(doc2())
    assert len(records) == len(SUPERVISED) * len(HEADS) + len(SCORERS)
    strict = next(r for r in records if (r["rung"], r["head or scorer"]) == ("strict", "LSTM"))
    assert strict["mean per-fold ROC-AUC"] == 0.55 and strict["CI low"] == pytest.approx(0.53)
    assert strict["std over runs (population)"] == 0.004 and strict["std over runs (sample)"] == pytest.approx(0.004 * 2 ** 0.5)
    assert strict["rank-pooled ROC-AUC"] == pytest.approx(0.549) and strict["raw pooled ROC-AUC (biased on k-fold rungs)"] == 0.5
    assert (strict["chance band low"], strict["chance band high"]) == (0.40, 0.60)
    assert strict["base-rate raw pooled ROC-AUC"] == 0.38 and strict["fits restoring epoch 0 (share)"] == 0.5
    assert strict["ROC-AUC mean, per run, folds pooled"] == 0.55 and strict["runs"] == 2 and strict["early stopping watches"] == "validation split"
    knn = records[-2]
    assert knn["kind"] == "one-class scorer" and knn["std over runs (population)"] is None
    assert knn["fits restoring epoch 0 (share)"] is None
    numeric = [k for k in records[0] if k not in ("rung", "head or scorer", "kind", "early stopping watches", "skipped")]
    assert all(isinstance(r[k], (int, float, type(None))) for r in records for k in numeric)
    skipped = audit_report.ladder_records(doc2(rungs=["paper"], skipped=[{"protocol": "strict", "reason": "x"}]))
    assert skipped[-1] == {**dict.fromkeys(skipped[-1]), "rung": "strict", "skipped": "x"}


def test_the_document_counts_its_paired_intervals_and_what_chance_alone_gives():
    doc = doc2()  # 5 recorded comparisons and 1 row of strict beside standard
    note = audit_report.multiplicity_note(doc)
    assert note.startswith("This audit records 6 paired intervals") and "about 0.3 of them" in note
    assert note in to_markdown(doc)
    bare = doc2(comparisons=[])
    bare["audit"]["comparable"] = None
    assert audit_report.multiplicity_note(bare) == ""
