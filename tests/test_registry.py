import pytest

from anomaly_ref import registry
from anomaly_ref.errors import UnknownNameError


def test_paper_lists_match_protocol():
    assert registry.paper_backbones() == [
        "convnext_tiny", "repvgg_a0", "mobileone_s0",
        "poolformer_s12", "maxvit_tiny_tf_224", "coatnet_0_rw_224",
    ]
    assert registry.paper_heads() == ["LSTM", "GRU", "LSTM_GRU", "SimpleRNN"]
    assert list(registry.DATASETS) == ["avenue", "ped1", "ped2", "umn"]
    assert list(registry.METRICS) == ["accuracy", "precision", "recall", "f1", "roc_auc"]


@pytest.mark.parametrize(
    "getter, kind",
    [
        (registry.get_backbone, "backbone"),
        (registry.get_head, "head"),
        (registry.get_dataset, "dataset"),
        (registry.get_metric, "metric"),
        (registry.get_protocol, "protocol"),
    ],
)
def test_unknown_name_lists_valid_names(getter, kind):
    with pytest.raises(UnknownNameError, match=rf"unknown {kind} 'nope'; valid: \w+"):
        getter("nope")


def test_dropbox_links_are_folder_links():
    for d in registry.DATASETS.values():
        assert d.features_url.startswith("https://www.dropbox.com/scl/fo/")
        assert d.features_url.endswith("dl=0")
