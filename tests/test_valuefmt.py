"""anomaly_ref.valuefmt: the workbooks' "mean ± std" text, written and read back."""

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from anomaly_ref import registry
from anomaly_ref.valuefmt import format_value, parse_value, utc_now_text, utc_text

METRICS = list(registry.METRICS.values())


def test_format_value_matches_workbook_text():
    assert format_value(0.98554, 0.00276) == "0.9855 ± 0.0028"
    assert format_value(1, 0) == "1.0000 ± 0.0000"


@given(st.integers(0, 10_000), st.integers(0, 5_000), st.sampled_from(METRICS))
def test_parse_value_inverts_format_value(mean_e4, std_e4, metric):
    mean, std = mean_e4 / 10_000, std_e4 / 10_000
    assert parse_value(f"{metric.label}: {format_value(mean, std)}") == (metric.label, mean, std)


@pytest.mark.parametrize(
    "text",
    ["Accuracy: 0.98x ± 0.01", "Accuracy: 0.985 ± 0.0028", "Accuracy: 0.9855 +- 0.0028", "Accuracy 0.9855 ± 0.0028"],
)
def test_parse_value_rejects_other_forms(text):
    assert parse_value(text) is None


@pytest.mark.parametrize("stamp, text", [
    ("2026-12-07T17:15:02+00:00", "2026-12-07 17:15 UTC"),  # as provenance records it
    ("2026-12-07T18:15:02+01:00", "2026-12-07 17:15 UTC"),  # another zone: converted
    ("2026-12-07T17:15:02", "2026-12-07 17:15 UTC"),  # naive: the suite writes UTC
    ("yesterday", "yesterday"),  # not a time: shown as it is
    (None, "unknown"),
    ("", "unknown"),
])
def test_one_notation_for_times_shown_to_people(stamp, text):
    assert utc_text(stamp) == text


def test_now_in_the_same_notation():
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", utc_now_text())
