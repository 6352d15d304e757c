"""<dataset>.png: titles and labels as the tables say them, the paper's series where it exists."""

from __future__ import annotations

from anomaly_ref import registry
from anomaly_ref.results import sources
from anomaly_ref.results.report_plots import figure, plot_dataset
from anomaly_ref.results.workbook import load_reference
from resultfiles import PROV, entry, paper, write


def _entries(tmp_path, results):
    return sources.load(write(tmp_path / "r.json", {"kind": "reproduce", "results": results, "provenance": PROV})).entries


def _series(ax) -> list[str]:
    return [c.get_label() for c in ax.containers]


def test_only_ours_is_titled_ours(tmp_path):
    es = _entries(tmp_path, [entry("ped2", "tf_efficientnet_lite0", "LSTM", {m: (0.9, 0.01) for m in registry.METRICS})])
    fig = figure(es, load_reference())
    assert fig.get_suptitle().startswith("UCSD Ped2: ours (") and "paper" not in fig.get_suptitle()
    assert [ax.get_ylabel() for ax in fig.axes] == ["Accuracy", "Precision", "Recall", "F1", "ROC-AUC"]
    assert all(_series(ax) == ["ours"] for ax in fig.axes)


def test_the_papers_series_is_drawn_where_it_exists(tmp_path):
    es = _entries(tmp_path, [entry("ped2", "convnext_tiny", "LSTM", paper("ped2", "convnext_tiny", "LSTM")),
                             entry("ped2", "tf_efficientnet_lite0", "LSTM", {m: (0.9, 0.01) for m in registry.METRICS})])
    fig = figure(es, load_reference())
    assert fig.get_suptitle().startswith("UCSD Ped2: ours vs paper (")
    assert all(_series(ax) == ["ours", "paper"] for ax in fig.axes)
    assert plot_dataset(es, load_reference()).startswith(b"\x89PNG")
