"""Trust on first use: the sha256 of each unpinned member, recorded when first installed.

An unpinned file is then held to its record exactly as a pinned file is held to its pin.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from . import integrity
from ..errors import FetchError
from .integrity import MISMATCH, UNPINNED, Check
from ..fileio import atomic_write_text
from .manifest import Member

log = logging.getLogger(__name__)

TOFU_NAME = ".tofu.json"  # first-use record of an artifact's unpinned members, in its cache folder


@dataclass
class FirstUse:
    """Trust on first use: ``{member name: {"sha256", "size", "recorded"}}`` of an artifact's
    unpinned members, kept in ``<cache>/<artifact id>/.tofu.json`` (read and written under the
    artifact's lock; the file is replaced atomically)."""

    path: Path
    records: dict[str, dict]

    @classmethod
    def load(cls, path: Path) -> "FirstUse":
        if not path.exists():
            return cls(path, {})
        try:
            records = json.loads(path.read_text(encoding="utf-8"))
            if not all(isinstance(r, dict) and isinstance(r.get("sha256"), str) and isinstance(r.get("size"), int)
                       for r in records.values()):
                raise ValueError("expected {name: {sha256, size}} entries")
        except (OSError, ValueError, AttributeError) as exc:
            raise FetchError(
                f"{path}: cannot read the first-use record ({exc}); nothing was changed. Restore it, or "
                "delete it: the folder's unpinned files are then recorded again, as found, at their next use"
            ) from None
        return cls(path, records)

    def check(self, path: Path, member: Member) -> Check:
        """:func:`integrity.check_member`; an unpinned file must also match its record, if any."""
        check = integrity.check_member(path, member)
        rec = self.records.get(member.name)
        if check.status != UNPINNED or rec is None:
            return check
        if check.sha256 == rec["sha256"]:
            return check
        return Check(path, MISMATCH, (
            f"sha256: expected {rec['sha256']}, found {check.sha256} (recorded at first use in "
            f"{self.path}; if the source changed on purpose, delete its entry there and fetch again)"
        ), check.sha256)

    def forget(self, name: str) -> None:
        """Drop ``name``'s record (its file was trusted and turned out bad): recorded anew at next use."""
        if self.records.pop(name, None) is not None:
            self._write()

    def _write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.path, json.dumps(self.records, indent=2, sort_keys=True) + "\n")

    def record(self, checks: dict[str, Check]) -> None:
        """Record every unpinned file in ``checks`` that has no record yet."""
        new = {name: c for name, c in checks.items() if c.status == UNPINNED and name not in self.records}
        if not new:
            return
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        for name, c in new.items():
            self.records[name] = {"sha256": c.sha256, "size": c.path.stat().st_size, "recorded": now}
        self._write()
        log.info("recorded %d first-use sha256 value(s) in %s", len(new), self.path)
