"""An audit's kept files, read and checked: its ``audit.json`` and the ``scores.csv.gz`` whose
sha256 the document records. Shared by :mod:`.recompute` (one audit's statistics again) and
:mod:`.audit_pair` (two audits compared), so both refuse the same mismatched files the same way.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, NamedTuple

from ..errors import InputError

# 2: statistics and a score file; strict trains on the normal training clips too (format 1's
# strict is strict-test-only). studies.audit writes it, results.audit_doc reads both.
AUDIT_FORMAT = 2


class Kept(NamedTuple):
    doc: dict[str, Any]
    path: Path  # audit.json
    scores: Path  # the score file audit.json names
    table: Any  # pandas.DataFrame of scores.csv.gz, clip ids as str


def read_kept(folder) -> Kept:
    """``folder``'s audit document and score table, the table checked against the recorded sha256."""
    import pandas as pd

    folder = Path(folder)
    path = folder / "audit.json"
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read {path}: {exc}") from None
    audit = doc.get("audit", {}) if isinstance(doc, dict) else {}
    if audit.get("format") != AUDIT_FORMAT or not audit.get("scores_file"):
        raise InputError(f"{path}: format {audit.get('format', 1)} without a score file; only an audit of format "
                         f"{AUDIT_FORMAT} with its scores.csv.gz can be read again (run the audit again)")
    scores = folder / audit["scores_file"]
    try:
        blob = scores.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read the score file {scores}: {exc}") from None
    if hashlib.sha256(blob).hexdigest() != audit.get("scores_sha256"):
        raise InputError(f"{scores}: sha256 differs from the one {path} records; the scores are not that audit's")
    table = pd.read_csv(scores, dtype={"clip": str, "copy": str, "origin": str})
    return Kept(doc, path, scores, table)
