"""The published number format: ``"0.9855 ± 0.0028"`` (mean ± population std, 4 decimals).

The workbooks print every figure this way (PROTOCOL §6-§7); the protocol stage prints
summaries in it and the results stage parses and compares it, so it lives here, below both.
"""

from __future__ import annotations

import re

# Exactly the workbook's text format: 4 decimals, '±' (U+00B1) between mean and std.
VALUE_RE = re.compile(r"^(?P<label>[A-Za-z0-9]+): (?P<mean>\d+\.\d{4}) ± (?P<std>\d+\.\d{4})$")


def format_value(mean: float, std: float) -> str:
    """``"0.9855 ± 0.0028"``: the workbooks' text for a mean ± population std (4 decimals)."""
    return f"{mean:.4f} ± {std:.4f}"


def parse_value(text: str) -> tuple[str, float, float] | None:
    """``"Accuracy: 0.9855 ± 0.0028"`` -> ``("Accuracy", 0.9855, 0.0028)``; None if not that form."""
    m = VALUE_RE.match(text)
    if m is None:
        return None
    return m["label"], float(m["mean"]), float(m["std"])
