"""report.py: the Markdown diff table the bench (reproduce.md) and the report (report.md) write."""

from __future__ import annotations

import re

from anomaly_ref.results.report import Row, to_markdown
from resultfiles import unreachable_sweep

PIPE = re.compile(r"(?<!\\)\|")  # a cell border; "\|" is a pipe inside a cell


def _table(md: str) -> tuple[list[str], list[list[str]]]:
    """The header and body cells of the one pipe table in ``md``."""
    lines = [ln for ln in md.splitlines() if ln.startswith("|")]
    cells = [[c.strip() for c in PIPE.split(ln)[1:-1]] for ln in lines]
    return cells[0], cells[2:]


def test_rows_of_an_unreachable_dataset_have_one_cell_per_column(tmp_path):
    _, md_path = unreachable_sweep(tmp_path)
    header, body = _table(md_path.read_text())
    assert len(header) == 10 and len(body) == 24
    assert all(len(cells) == len(header) for cells in body), [len(c) for c in body]
    status = [cells[header.index("status")] for cells in body]
    assert status[0].startswith("error: FetchError: cannot connect") and "(not retried) \\| DNS" in status[0]
    assert status[1] == "not run: the ped1 features could not be had (see the failure of ped1/convnext_tiny/LSTM)"
    assert not any("not run: not run" in s for s in status)


def test_a_pipe_in_an_error_stays_inside_its_cell():
    md = to_markdown([Row("ped2", "convnext_tiny", "LSTM", error="ValueError: a | b")])
    header, (cells,) = _table(md)
    assert len(cells) == len(header) and cells[-1] == "error: ValueError: a \\| b"
