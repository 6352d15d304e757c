"""How the audit's figures are written: 4 decimals, intervals in brackets, signed
differences with a true minus, and the one rule every "same as" claim follows.

A claim that two figures are the same is read off the paired difference's interval
(CONVENTIONS §12), never off a fixed threshold: an interval that holds 0 means no difference
can be detected at the resolution the clips allow, one that excludes 0 means they differ.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from .audit_doc import Spread, num

NA = "n/a"
DASH = "—"  # a cell that does not apply: heads on the one-class rung, scorers on supervised rungs
MINUS = "−"  # U+2212: a signed difference reads as one, not as a hyphen
SAME = "no difference detectable at this resolution"
DIFFERS = "differs"


def fmt(x: float | None, digits: int = 4) -> str:
    return NA if x is None or math.isnan(x) else f"{x:.{digits}f}"


def signed(x: float | None, digits: int = 4) -> str:
    """``+0.0008``, ``−0.0012``; NaN or None as "n/a"."""
    if x is None or math.isnan(x):
        return NA
    return f"{'+' if x >= 0 else MINUS}{abs(x):.{digits}f}"


def bracket(low: float | None, high: float | None, sign: bool = False) -> str:
    """``[0.7837, 0.9233]`` (``sign``: ``[−0.0012, +0.0030]``)."""
    f = signed if sign else fmt
    return f"[{f(low)}, {f(high)}]"


def with_ci(x: float, iv: tuple[float, float] | None) -> str:
    """``0.8575 [0.7837, 0.9233]``: a figure and its 95% interval; "n/a" alone for NaN."""
    if math.isnan(x):
        return NA
    return fmt(x) if iv is None else f"{fmt(x)} {bracket(*iv)}"


def spread_text(s: Spread) -> str:
    """``± 0.0546 (0.0386)``: sample std (population std, as the notebooks print) over runs;
    "" where there is one value (no spread to show, so no "±")."""
    if s.std is None or s.std_sample is None:
        return ""
    return f"± {fmt(s.std_sample)} ({fmt(s.std)})"


def verdict(c: Mapping[str, Any]) -> str:
    """A paired difference read by its interval: :data:`SAME` when it holds 0, else :data:`DIFFERS`."""
    low, high = num(c.get("low")), num(c.get("high"))
    if math.isnan(low) or math.isnan(high):
        return "cannot be compared (interval undefined)"
    return SAME if low <= 0 <= high else DIFFERS


def difference_text(c: Mapping[str, Any]) -> str:
    """``+0.0008 [−0.0012, +0.0030]: no difference detectable at this resolution``."""
    return f"{signed(num(c.get('difference')))} {bracket(num(c.get('low')), num(c.get('high')), sign=True)}: {verdict(c)}"


def pct(share: float | None) -> str:
    return NA if share is None or math.isnan(share) else f"{100 * share:.1f}%"


def cell(text: str) -> str:
    """Text made safe for one Markdown table cell: one line, no cell-breaking "|"."""
    return " ".join(str(text).split()).replace("|", "\\|")
