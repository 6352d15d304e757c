"""File helpers more than one stage uses: atomic writes and the sha256 of a file.

Writes follow pooch's rule for downloads: bytes go to a temporary file in the final
folder and are moved onto the final name (``os.replace``) only once complete, so a crash
never leaves a truncated file under a real name.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks (feature files reach hundreds of MB)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


@contextmanager
def replacing(paths: Sequence[Path]) -> Iterator[list[Path]]:
    """Temporary paths in the final files' folders; moved onto ``paths`` (``os.replace``)
    when the block ends without error, deleted when it raises."""
    temps = []
    mode = _umask_mode()
    try:
        for path in paths:
            fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            os.fchmod(fd, mode)  # mkstemp makes 0600; the final file gets what open() would give
            os.close(fd)
            temps.append(Path(temp))
        yield temps
        for temp, path in zip(temps, paths):
            os.replace(temp, path)
    finally:
        for temp in temps:
            temp.unlink(missing_ok=True)  # only those not moved into place


def _umask_mode() -> int:
    """0666 less the process umask: the mode a plain ``open(path, "w")`` would create."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` through a temporary file beside it."""
    path = Path(path)
    with replacing([path]) as (temp,):
        temp.write_text(text, encoding="utf-8")
    return path


def _finite(obj: Any) -> Any:
    """``obj`` with every non-finite float (NaN, inf) replaced by None."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def dumps_json(doc: Any) -> str:
    """Standard JSON text of a result document: NaN and inf (an undefined ROC-AUC, say)
    become ``null``, which strict parsers accept; ``NaN`` literals they reject."""
    return json.dumps(_finite(doc), indent=2, allow_nan=False, default=str) + "\n"
