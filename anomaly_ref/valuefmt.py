"""How values are shown to people: the published number format, and times.

``"0.9855 ± 0.0028"`` (mean ± population std, 4 decimals): the workbooks print every figure
this way (PROTOCOL §6-§7); the protocol stage prints summaries in it and the results stage
parses and compares it, so it lives here, below both.

``"2026-12-07 17:15 UTC"``: every time a report, a Markdown file or the CLI shows a person
(:func:`utc_text`); result files keep ISO 8601 (``provenance.collect``) for programs.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

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


UTC_FORMAT = "%Y-%m-%d %H:%M UTC"  # one notation for every time shown to a person


def utc_text(stamp: str | datetime | None = None) -> str:
    """An ISO 8601 time (``2026-12-07T17:15:02+00:00``, as result files record it) as
    ``2026-12-07 17:15 UTC``; no argument: now. A value that is not such a time is shown as
    it is (``None`` or empty: ``unknown``), so an odd provenance field never breaks a report."""
    if not stamp:
        return "unknown"
    try:
        t = stamp if isinstance(stamp, datetime) else datetime.fromisoformat(str(stamp))
    except ValueError:
        return str(stamp)
    return (t.astimezone(timezone.utc) if t.tzinfo else t).strftime(UTC_FORMAT)  # naive: the suite writes UTC


def utc_now_text() -> str:
    """Now, as :func:`utc_text` shows times."""
    return utc_text(datetime.now(timezone.utc))
