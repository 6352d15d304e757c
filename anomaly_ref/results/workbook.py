"""The paper's published result workbooks as a tidy table (PROTOCOL §7).

Each workbook (``registry.Dataset.workbook``) has one sheet: 4 columns, one per head in
``registry.paper_heads()`` order, and 6 blocks, one per backbone in
``registry.paper_backbones()`` order. A block, per column::

    convnext_tiny                                  <- backbone name (same row in all columns)
    ==== Summary for LSTM (over 5 runs) ====       <- header; the number of '=' varies
    Accuracy: 0.9855 ± 0.0028                      <- five metrics, registry.METRICS order
    Precision: ... / Recall: ... / F1: ... / Auc: ...
    (blank)

The parser never guesses: every value is located by its label, checked against the
backbone, head and metric it must belong to, and any cell that does not fit raises
:class:`WorkbookError` naming the file, sheet, cell, the text found and what was expected.
One deviation is tolerated, with a warning: a block without its header line (UCSD Ped2,
poolformer_s12 / GRU), whose metrics then start one row higher; the head is then known
from the column, which the column's other headers confirm.

Output rows: ``dataset, extractor, model, metric, mean, std`` (names from the registry).
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, NamedTuple

from .. import registry
from ..data.paths import is_packaged, project_file
from ..errors import InputError, WorkbookError
from ..valuefmt import parse_value

if TYPE_CHECKING:  # pandas is imported where it is used, keeping ``import anomaly_ref`` cheap
    import pandas as pd

log = logging.getLogger(__name__)

COLUMNS = ("dataset", "extractor", "model", "metric", "mean", "std")
KEY_COLUMNS = COLUMNS[:4]
WORKBOOK_FOLDER = "Sequential_Model_Results_XLSX"  # where the workbooks sit in the paper's repo
# The checkout's reference/paper_results.csv, or the copy installed with the package.
DEFAULT_REFERENCE = project_file("reference/paper_results.csv")

# The authors' workbooks all say "over 5 runs"; ours (report.xlsx) say how many ran.
_HEADER_RE = re.compile(r"^=+ Summary for (?P<model>\S+) \(over (?P<runs>\d+) runs\) =+$")


class _Cell(NamedTuple):
    row: int  # 1-based sheet row
    coord: str  # "B26"
    text: str


class _Where(NamedTuple):
    """Where a cell lives, for error messages."""

    file: str
    sheet: str

    def error(self, cell: str, found: object, expected: str, hint: str = "") -> WorkbookError:
        msg = f"{self.file}: sheet {self.sheet!r}, cell {cell}: found {found!r}, expected {expected}"
        return WorkbookError(msg + (f"; {hint}" if hint else ""))


def _column_cells(ws, col: int) -> list[_Cell]:
    """Non-blank cells of one column, top to bottom; whitespace-only strings count as blank."""
    cells = []
    for (cell,) in ws.iter_rows(min_col=col, max_col=col, min_row=1, max_row=ws.max_row):
        value = cell.value
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        cells.append(_Cell(cell.row, cell.coordinate, value.strip() if isinstance(value, str) else value))
    return cells


def _parse_block_metrics(
    where: _Where, cells: list[_Cell], i: int, letter: str, first_row: int, context: str
) -> tuple[list[tuple[str, float, float]], int]:
    """Read the five metric cells starting at ``cells[i]``, expected in rows ``first_row...``.

    Returns ``([(metric name, mean, std)] * 5, index of the next cell)``.
    """
    labels = {m.label: m.name for m in registry.METRICS.values()}
    order = list(labels)
    out = []
    for k, label in enumerate(order):
        row = first_row + k
        expected = f"'{label}: <mean> ± <std>' (4 decimals) for {context}"
        if i >= len(cells) or cells[i].row != row:
            raise where.error(f"{letter}{row}", None, expected, f"metric {label!r} is missing")
        cell = cells[i]
        parsed = parse_value(cell.text) if isinstance(cell.text, str) else None
        if parsed is None:
            raise where.error(cell.coord, cell.text, expected)
        found_label, mean, std = parsed
        if found_label != label:
            if found_label in order[:k]:
                hint = f"duplicate metric {found_label!r}"
            elif found_label in order:
                hint = f"metric {label!r} is missing"
            else:
                hint = f"unknown metric label {found_label!r}; valid: {', '.join(order)}"
            raise where.error(cell.coord, cell.text, expected, hint)
        if not (0.0 <= mean <= 1.0 and 0.0 <= std <= 0.5):  # a proportion and its spread
            raise where.error(cell.coord, cell.text, expected, "mean must lie in [0, 1] and std in [0, 0.5]")
        out.append((labels[label], mean, std))
        i += 1
    return out, i


def _parse_column(
    where: _Where, cells: list[_Cell], letter: str, model: str, allow_missing: bool = False
) -> Iterator[tuple[str, int, list]]:
    """Walk one head's column (``letter``, e.g. "B").

    Yields ``(backbone, name row, [(metric, mean, std)] * 5)`` per block, in block order;
    with ``allow_missing``, a block of a name and header but no values yields ``[]``.
    """
    backbones = registry.paper_backbones()
    i = 0
    last_row = 0
    n_headers = 0  # a column needs at least one header naming its head, or nothing confirms it
    for k, backbone in enumerate(backbones):
        if i >= len(cells):
            raise where.error(
                f"{letter}{last_row + 2}", None, f"backbone name {backbone!r}",
                f"block {k + 1} of {len(backbones)} is missing ({len(backbones)} blocks expected)",
            )
        cell = cells[i]
        if cell.text != backbone:
            if cell.text in backbones[:k]:
                hint = f"duplicate block {cell.text!r}"
            elif cell.text in backbones:
                hint = f"block {backbone!r} is missing (blocks follow {', '.join(backbones)})"
            else:
                hint = f"blocks follow {', '.join(backbones)}"
            raise where.error(cell.coord, cell.text, f"backbone name {backbone!r}", hint)
        name_row, i = cell.row, i + 1
        context = f"{backbone} / {model}"
        nxt = cells[i] if i < len(cells) else None
        header = _HEADER_RE.match(nxt.text) if nxt and isinstance(nxt.text, str) else None
        if nxt is not None and nxt.row == name_row + 1 and header:
            if header["model"] != model:
                raise where.error(
                    nxt.coord, nxt.text, f"a summary header for {model!r}",
                    f"columns follow {', '.join(registry.paper_heads())}",
                )
            first_row, i, n_headers = name_row + 2, i + 1, n_headers + 1
            if allow_missing and (i >= len(cells) or cells[i].row != first_row):
                last_row = name_row + 1  # a configuration not run: header, no values (report.xlsx)
                yield backbone, name_row, []
                continue
        elif nxt is not None and nxt.row == name_row + 1 and parse_value(str(nxt.text)):
            # The known quirk (Ped2 poolformer_s12 / GRU): no header, values one row higher.
            log.warning(
                "%s: sheet %r, cell %s: no summary header for %s; reading %s as its first value "
                "(the head is known from the column)", where.file, where.sheet, nxt.coord, context, nxt.coord,
            )
            first_row = name_row + 1
        else:
            coord = nxt.coord if nxt is not None and nxt.row == name_row + 1 else f"{letter}{name_row + 1}"
            found = nxt.text if nxt is not None and nxt.row == name_row + 1 else None
            raise where.error(coord, found, f"'==== Summary for {model} (over 5 runs) ====' for {context}")
        values, i = _parse_block_metrics(where, cells, i, letter, first_row, context)
        last_row = first_row + len(values) - 1
        yield backbone, name_row, values
    if n_headers == 0:
        raise where.error(
            f"{letter}{cells[0].row + 1}", None, f"'==== Summary for {model} (over 5 runs) ===='",
            "no block of this column names its head",
        )
    if i < len(cells):
        raise where.error(
            cells[i].coord, cells[i].text, "nothing after the last block",
            f"{len(backbones)} blocks expected, one per backbone",
        )


def _open_sheet(path: Path, sheet: str | None = None):
    """The single worksheet of a workbook (or the one named ``sheet``), or a WorkbookError
    naming the file."""
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException
    from zipfile import BadZipFile

    if not path.is_file():
        raise InputError(
            f"workbook not found: {path}; download it from github.com/{registry.PAPER_REPO} at "
            f"commit {registry.PAPER_COMMIT}, folder {WORKBOOK_FOLDER}/"
        )
    try:
        # Not data_only: a text starting with '=' saved by some writers as a formula would
        # read as None there; here a cell reads as what was typed, and anything that is not
        # the expected text is rejected. The embedded pictures are drawing shapes that
        # openpyxl skips; they carry no numbers.
        wb = openpyxl.load_workbook(path)
    except (InvalidFileException, BadZipFile, KeyError, OSError) as exc:
        raise WorkbookError(f"{path.name}: cannot open as an .xlsx workbook ({exc})") from exc
    if sheet is not None:
        if sheet not in wb.sheetnames:
            raise WorkbookError(f"{path.name}: no sheet {sheet!r}; sheets: {wb.sheetnames}")
        return wb[sheet]
    if len(wb.worksheets) != 1:
        raise WorkbookError(f"{path.name}: expected exactly one sheet, found {wb.sheetnames}")
    return wb.worksheets[0]


def parse_workbook(
    path: str | os.PathLike, dataset: str, sheet: str | None = None, allow_missing: bool = False
) -> "pd.DataFrame":
    """Parse one result workbook.

    Parameters: ``path`` to the .xlsx, ``dataset`` a registry key ("avenue", ...);
    ``sheet`` names the sheet to read where the workbook has several (our report.xlsx);
    ``allow_missing`` accepts blocks with no values (configurations a report did not run).
    Returns a DataFrame of 120 rows (6 backbones x 4 heads x 5 metrics; fewer with
    ``allow_missing``), columns :data:`COLUMNS`, in canonical order. Raises
    :class:`WorkbookError` for any cell it cannot read.
    """
    import pandas as pd
    from openpyxl.utils import get_column_letter

    registry.get_dataset(dataset)
    path = Path(path)
    ws = _open_sheet(path, sheet)
    where = _Where(path.name, ws.title)
    heads = registry.paper_heads()
    # Anything right of the head columns would be a configuration we do not know about.
    for col in range(len(heads) + 1, ws.max_column + 1):
        extra = _column_cells(ws, col)
        if extra:
            raise where.error(
                extra[0].coord, extra[0].text, f"nothing beyond column {len(heads)}",
                f"the layout has {len(heads)} head columns ({', '.join(heads)})",
            )
    rows = []
    name_rows: dict[str, tuple[int, str]] = {}  # backbone -> (row, column) of its first name cell
    for col, model in enumerate(heads, start=1):
        letter = get_column_letter(col)
        for backbone, name_row, values in _parse_column(where, _column_cells(ws, col), letter, model, allow_missing):
            first = name_rows.setdefault(backbone, (name_row, letter))
            if first[0] != name_row:  # blocks sit side by side: the name row is shared
                raise where.error(
                    f"{letter}{name_row}", backbone,
                    f"{backbone!r} in row {first[0]}, as in column {first[1]}",
                    "blocks must sit side by side",
                )
            rows += [(dataset, backbone, model, metric, mean, std) for metric, mean, std in values]
    n_expected = len(registry.paper_backbones()) * len(heads) * len(registry.METRICS)
    if len(rows) != n_expected and not allow_missing:  # the walk above guarantees it; kept as a cheap cross-check
        raise WorkbookError(f"{path.name}: read {len(rows)} values, expected {n_expected}")
    return canonical_order(pd.DataFrame(rows, columns=list(COLUMNS)))


def canonical_order(df: "pd.DataFrame") -> "pd.DataFrame":
    """Sort by dataset, extractor, model, metric in registry order; fresh 0..n-1 index."""
    rank = {
        "dataset": {k: i for i, k in enumerate(registry.DATASETS)},
        "extractor": {k: i for i, k in enumerate(registry.BACKBONES)},
        "model": {k: i for i, k in enumerate(registry.HEADS)},
        "metric": {k: i for i, k in enumerate(registry.METRICS)},
    }
    out = df.sort_values(list(KEY_COLUMNS), key=lambda s: s.map(rank[s.name]), kind="stable")
    return out.reset_index(drop=True)


def parse_paper_dir(paper_dir: str | os.PathLike) -> "pd.DataFrame":
    """Parse the four workbooks in ``paper_dir`` (file names from the registry): 480 rows."""
    import pandas as pd

    from ..fileio import sha256_file

    paper_dir = Path(paper_dir)
    frames = []
    for key, ds in registry.DATASETS.items():
        path = paper_dir / ds.workbook
        frames.append(parse_workbook(path, key))
        log.info("parsed %s (sha256 %s)", path.name, sha256_file(path))
    return canonical_order(pd.concat(frames, ignore_index=True))


def write_reference(df: "pd.DataFrame", path: str | os.PathLike) -> None:
    """Write the table as CSV: 4 decimals as in the workbooks, '\\n' line ends (byte-stable)."""
    df.to_csv(path, index=False, float_format="%.4f", lineterminator="\n", encoding="utf-8")


def load_reference(path: str | os.PathLike | None = None) -> "pd.DataFrame":
    """Read the committed reference CSV (default :data:`DEFAULT_REFERENCE`) and validate it.

    Returns the 480-row table (columns :data:`COLUMNS`, mean/std float64). Raises
    :class:`InputError` naming the file and line if it is missing, has other columns, an
    unknown name, a value not written with 4 decimals, a duplicate or a missing row.
    """
    import pandas as pd

    path = Path(path) if path is not None else DEFAULT_REFERENCE
    regen = "regenerate it with: anomaly-ref reference --paper-dir DIR --out " + str(path)
    if is_packaged(path):  # never advise writing into an installed package
        regen = "this copy came with the installed anomaly-ref: reinstall anomaly-ref (pip install --force-reinstall)"
    if not path.is_file():
        raise InputError(f"reference CSV not found: {path}; {regen}")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not a readable CSV ({exc}); {regen}") from exc
    if list(df.columns) != list(COLUMNS):
        raise InputError(f"{path}: columns {list(df.columns)}, expected {list(COLUMNS)}; {regen}")
    tables = {"dataset": registry.DATASETS, "extractor": registry.BACKBONES,
              "model": registry.HEADS, "metric": registry.METRICS}
    number = re.compile(r"^\d+\.\d{4}$")
    for i, rec in enumerate(df.itertuples(index=False), start=2):  # line 1 is the header
        for col, table in tables.items():
            if getattr(rec, col) not in table:
                value = getattr(rec, col)
                raise InputError(f"{path}, line {i}: unknown {col} {value!r}; valid: {', '.join(table)}")
        for col in ("mean", "std"):
            value = getattr(rec, col)
            if not number.match(value):
                raise InputError(f"{path}, line {i}: {col} {value!r} is not a number with 4 decimals")
    dup = df[df.duplicated(list(KEY_COLUMNS), keep=False)]
    if len(dup):
        raise InputError(f"{path}: duplicate rows for {dup.iloc[0, :4].tolist()}; {regen}")
    n_expected = len(registry.DATASETS) * len(registry.paper_backbones()) * len(registry.paper_heads())
    n_expected *= len(registry.METRICS)
    if len(df) != n_expected:
        raise InputError(f"{path}: {len(df)} rows, expected {n_expected}; {regen}")
    df[["mean", "std"]] = df[["mean", "std"]].astype("float64")
    return canonical_order(df)


def compare(parsed: "pd.DataFrame", reference: "pd.DataFrame") -> "pd.DataFrame":
    """Rows whose mean or std differ, or that exist on one side only.

    Returns a DataFrame with the key columns and ``mean_parsed, std_parsed, mean_ref,
    std_ref`` (NaN where the row is absent on that side); empty when both agree.
    """
    merged = parsed.merge(reference, on=list(KEY_COLUMNS), how="outer", suffixes=("_parsed", "_ref"))
    # Both sides carry 4-decimal values; compare them as the text the workbooks print.
    same = (merged["mean_parsed"].round(4) == merged["mean_ref"].round(4)) & (
        merged["std_parsed"].round(4) == merged["std_ref"].round(4)
    )
    return canonical_order(merged[~same])
