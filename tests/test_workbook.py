"""anomaly_ref.results.workbook and ``anomaly-ref reference``: the paper's workbooks as data."""

from __future__ import annotations

import hashlib
import io
import logging
import re
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from anomaly_ref import registry
from anomaly_ref.cli import main as cli_main
from anomaly_ref.errors import InputError, WorkbookError
from anomaly_ref.results.workbook import (
    COLUMNS,
    DEFAULT_REFERENCE,
    load_reference,
    parse_paper_dir,
    parse_workbook,
    write_reference,
)
from anomaly_ref.valuefmt import format_value

BACKBONES = registry.paper_backbones()
HEADS = registry.paper_heads()
METRICS = list(registry.METRICS.values())
N_ROWS = len(registry.DATASETS) * len(BACKBONES) * len(HEADS) * len(METRICS)
README = DEFAULT_REFERENCE.parent / "README.md"


# ---------------------------------------------------------------- synthetic workbooks

def fake_value(b: int, h: int, m: int) -> tuple[float, float]:
    """A distinct (mean, std) per cell, so a value read from the wrong place shows."""
    return round(0.5 + b * 0.04 + h * 0.01 + m * 0.001, 4), round(0.0001 * (1 + b * 20 + h * 5 + m), 4)


def write_fake_workbook(path: Path, skip_header: tuple[str, str] | None = None, picture: bool = True) -> dict:
    """Write a workbook in the paper's layout; returns ``{coord: text}`` as written.

    The number of '=' in the headers varies from cell to cell, as in the real files;
    ``skip_header=(backbone, head)`` drops that block's header and moves its five values
    one row up (UCSD Ped2's poolformer_s12 / GRU).
    """
    wb = openpyxl.Workbook()
    ws = wb.active
    cells = {}
    for b, backbone in enumerate(BACKBONES):
        top = 1 + 8 * b
        for h, head in enumerate(HEADS):
            col = openpyxl.utils.get_column_letter(h + 1)
            cells[f"{col}{top}"] = backbone
            eq_left, eq_right = "=" * (2 + (b + h) % 4), "=" * (3 + (b * h) % 3)
            first = top + 2
            if skip_header == (backbone, head):
                first = top + 1
            else:
                cells[f"{col}{top + 1}"] = f"{eq_left} Summary for {head} (over 5 runs) {eq_right}"
            for m, metric in enumerate(METRICS):
                cells[f"{col}{first + m}"] = f"{metric.label}: {format_value(*fake_value(b, h, m))}"
    for coord, text in cells.items():
        ws[coord] = text
        ws[coord].data_type = "s"  # openpyxl would store '== Summary ...' as a formula
    if picture:  # the real workbooks embed plots; the parser must look past them
        from openpyxl.drawing.image import Image
        from PIL import Image as PILImage

        png = io.BytesIO()
        PILImage.new("RGB", (8, 8), "red").save(png, format="PNG")
        ws.add_image(Image(png), "F2")
    wb.save(path)
    return cells


def expected_fake_table(dataset: str) -> pd.DataFrame:
    rows = [
        (dataset, backbone, head, metric.name, *fake_value(b, h, m))
        for b, backbone in enumerate(BACKBONES)
        for h, head in enumerate(HEADS)
        for m, metric in enumerate(METRICS)
    ]
    return pd.DataFrame(rows, columns=list(COLUMNS))


def rewrite(path: Path, edits: dict[str, object]) -> None:
    """Set (or with None, clear) cells of an existing workbook."""
    wb = openpyxl.load_workbook(path)
    for coord, value in edits.items():
        wb.active[coord] = value
        if isinstance(value, str):
            wb.active[coord].data_type = "s"  # text, never a formula (see write_fake_workbook)
    wb.save(path)


@pytest.fixture
def fake(tmp_path) -> Path:
    path = tmp_path / registry.get_dataset("ped2").workbook
    write_fake_workbook(path)
    return path


# ---------------------------------------------------------------- synthetic layout

def test_fake_workbook_parses_to_expected_numbers(fake):
    got = parse_workbook(fake, "ped2")
    pd.testing.assert_frame_equal(got, expected_fake_table("ped2"), check_dtype=False)


def test_missing_header_reads_values_one_row_higher(tmp_path, caplog):
    path = tmp_path / "quirk.xlsx"
    cells = write_fake_workbook(path, skip_header=("poolformer_s12", "GRU"))
    assert cells["B26"].startswith("Accuracy: ")  # the layout of UCSD Ped2 (rows 25-30)
    with caplog.at_level(logging.WARNING, logger="anomaly_ref.results.workbook"):
        got = parse_workbook(path, "ped2")
    pd.testing.assert_frame_equal(got, expected_fake_table("ped2"), check_dtype=False)
    assert re.search(r"quirk\.xlsx.*cell B26: no summary header for poolformer_s12 / GRU", caplog.text)


MALFORMED = [
    # (edits, message pattern): each message must name the file and the cell.
    ({"C14": "F1: 0.98x ± 0.0100"}, r"cell C14: found 'F1: 0\.98x ± 0\.0100', expected 'F1: <mean> ± <std>'"),
    ({"A5": "Accuracy: 0.9855 ± 0.0028"}, r"cell A5: found 'Accuracy: .*duplicate metric 'Accuracy'"),
    # Recall missing: F1 and Auc move up a row, leaving a blank where Auc was.
    ({"D5": "F1: 0.5000 ± 0.0100", "D6": "Auc: 0.5000 ± 0.0100", "D7": None},
     r"cell D5: found 'F1: .*metric 'Recall' is missing"),
    ({"B7": None}, r"cell B7: found None, expected 'Auc: <mean> ± <std>'.*metric 'Auc' is missing"),
    ({"C9": "repvgg_b0"}, r"cell C9: found 'repvgg_b0', expected backbone name 'repvgg_a0'"),
    ({"A17": "repvgg_a0"}, r"cell A17: found 'repvgg_a0', expected backbone name 'mobileone_s0'.*duplicate block"),
    ({"D18": "==== Summary for GRU (over 5 runs) ===="}, r"cell D18: .*expected a summary header for 'SimpleRNN'"),
    ({"B2": 0.5}, r"cell B2: found 0\.5, expected"),
    ({"E3": "Accuracy: 0.9000 ± 0.0100"}, r"cell E3: .*4 head columns"),
    ({"A49": "convnext_tiny"}, r"cell A49: found 'convnext_tiny', expected nothing after the last block"),
    ({"C12": "Precision: 1.2000 ± 0.0100"}, r"cell C12: .*mean must lie in \[0, 1\]"),
]


@pytest.mark.parametrize("edits, pattern", MALFORMED, ids=[p.split(":")[0] for _, p in MALFORMED])
def test_malformed_cell_is_rejected_naming_file_and_cell(fake, edits, pattern):
    rewrite(fake, edits)
    with pytest.raises(WorkbookError, match=re.escape(fake.name) + r": sheet 'Sheet', " + pattern):
        parse_workbook(fake, "ped2")


def test_missing_blocks_are_rejected(tmp_path):
    path = tmp_path / "short.xlsx"
    write_fake_workbook(path)
    rewrite(path, {f"{c}{r}": None for c in "ABCD" for r in range(41, 48)})  # drop coatnet_0_rw_224
    with pytest.raises(WorkbookError, match=r"short\.xlsx.*cell A41: found None, expected backbone name "
                       r"'coatnet_0_rw_224'; block 6 of 6 is missing"):
        parse_workbook(path, "avenue")


def test_duplicated_block_is_rejected(tmp_path):
    """A whole block pasted twice (mobileone_s0 again in place of poolformer_s12)."""
    path = tmp_path / "dup.xlsx"
    cells = write_fake_workbook(path)
    rewrite(path, {f"{c}{r + 8}": cells[f"{c}{r}"] for c in "ABCD" for r in range(17, 24)})
    with pytest.raises(WorkbookError, match=r"dup\.xlsx.*cell A25: found 'mobileone_s0'.*duplicate block"):
        parse_workbook(path, "avenue")


def test_misaligned_blocks_are_rejected(tmp_path):
    path = tmp_path / "shifted.xlsx"
    cells = write_fake_workbook(path)
    # Column D's last block one row lower than the others.
    edits = {f"D{r}": None for r in range(41, 48)}
    edits.update({f"D{r + 1}": cells[f"D{r}"] for r in range(41, 48)})
    rewrite(path, edits)
    pattern = r"cell D42: found 'coatnet_0_rw_224', expected 'coatnet_0_rw_224' in row 41, as in column A"
    with pytest.raises(WorkbookError, match=pattern):
        parse_workbook(path, "avenue")


def test_column_without_any_header_is_rejected(tmp_path):
    path = tmp_path / "noheaders.xlsx"
    write_fake_workbook(path)
    wb = openpyxl.load_workbook(path)
    ws = wb.active
    for b in range(len(BACKBONES)):  # column C: delete each header, move the values up
        top = 1 + 8 * b
        for r in range(top + 1, top + 7):
            ws[f"C{r}"] = ws[f"C{r + 1}"].value
        ws[f"C{top + 7}"] = None
    wb.save(path)
    with pytest.raises(WorkbookError, match=r"cell C2: .*no block of this column names its head"):
        parse_workbook(path, "avenue")


def test_not_a_workbook_and_missing_workbook(tmp_path):
    bogus = tmp_path / "bogus.xlsx"
    bogus.write_text("not a zip")
    with pytest.raises(WorkbookError, match=r"bogus\.xlsx: cannot open"):
        parse_workbook(bogus, "umn")
    pattern = r"workbook not found: .*Avenue\.xlsx; download it .*Sequential_Model_Results_XLSX"
    with pytest.raises(InputError, match=pattern):
        parse_paper_dir(tmp_path)


def test_second_sheet_is_rejected(fake):
    wb = openpyxl.load_workbook(fake)
    wb.create_sheet("Extra")
    wb.save(fake)
    with pytest.raises(WorkbookError, match=r"expected exactly one sheet, found \['Sheet', 'Extra'\]"):
        parse_workbook(fake, "ped2")


# ---------------------------------------------------------------- the real workbooks

@pytest.fixture(scope="module")
def paper_table(shared) -> pd.DataFrame:
    return parse_paper_dir(shared / "paper")


def test_real_workbooks_reproduce_committed_csv_byte_for_byte(paper_table, tmp_path):
    out = tmp_path / "paper_results.csv"
    write_reference(paper_table, out)
    assert out.read_bytes() == DEFAULT_REFERENCE.read_bytes()


def test_real_table_shape_and_names(paper_table):
    assert len(paper_table) == N_ROWS == 480
    assert list(paper_table.columns) == list(COLUMNS)
    assert not paper_table.duplicated(list(COLUMNS[:4])).any()
    assert set(paper_table.extractor) == set(BACKBONES) and set(paper_table.model) == set(HEADS)


def test_real_facts(paper_table):
    t = paper_table.set_index(list(COLUMNS[:4]))
    # Checked by eye in the workbooks: Avenue A3, and Ped2 B26 (the row-shifted column).
    assert tuple(t.loc[("avenue", "convnext_tiny", "LSTM", "accuracy")]) == (0.9855, 0.0028)
    assert tuple(t.loc[("ped2", "poolformer_s12", "GRU", "accuracy")]) == (0.9909, 0.0021)
    assert tuple(t.loc[("ped2", "poolformer_s12", "GRU", "roc_auc")]) == (0.9995, 0.0001)
    # PROTOCOL §7: every UMN value is 1.0000 ± 0.0000 except poolformer_s12 / SimpleRNN.
    umn = paper_table[paper_table.dataset == "umn"]
    not_perfect = umn[(umn["mean"] != 1.0) | (umn["std"] != 0.0)]
    assert set(zip(not_perfect.extractor, not_perfect.model)) == {("poolformer_s12", "SimpleRNN")}


def test_committed_csv_is_valid():
    """Runs without the shared data: the committed file alone passes load_reference's checks."""
    ref = load_reference()
    assert len(ref) == N_ROWS
    assert ref["mean"].dtype == "float64" and ref["std"].dtype == "float64"


def test_committed_csv_loads_and_equals_parse(paper_table):
    ref = load_reference()
    pd.testing.assert_frame_equal(ref, paper_table, check_dtype=False)


def test_readme_records_the_workbook_hashes(shared):
    readme = README.read_text(encoding="utf-8")
    assert registry.PAPER_COMMIT in readme and registry.PAPER_REPO in readme
    for ds in registry.DATASETS.values():
        digest = hashlib.sha256((shared / "paper" / ds.workbook).read_bytes()).hexdigest()
        assert f"{digest}  {ds.workbook}" in readme


def test_no_workbook_is_committed():
    repo = DEFAULT_REFERENCE.parents[1]
    assert not list(repo.glob("reference/*.xlsx"))


# ---------------------------------------------------------------- CLI

def test_cli_check_passes_on_real_data(shared, capsys):
    assert cli_main(["reference", "--paper-dir", str(shared / "paper"), "--check"]) == 0
    assert "ok: 480 rows" in capsys.readouterr().out


def test_cli_check_fails_on_tampered_csv(shared, tmp_path, capsys):
    tampered = tmp_path / "tampered.csv"
    text = DEFAULT_REFERENCE.read_text(encoding="utf-8")
    line = "ped1,repvgg_a0,GRU,recall,0.9655,0.0043\n"
    assert line in text  # Ped1 B13
    tampered.write_text(text.replace(line, line.replace("0.9655", "0.9656")), encoding="utf-8")
    argv = ["reference", "--paper-dir", str(shared / "paper"), "--check", "--reference", str(tampered)]
    assert cli_main(argv) == 1
    out = capsys.readouterr().out
    assert "1 rows differ" in out
    assert "ped1 repvgg_a0 GRU recall: workbook 0.9655 ± 0.0043, csv 0.9656 ± 0.0043" in out


def test_cli_out_writes_the_csv(shared, tmp_path):
    out = tmp_path / "out.csv"
    assert cli_main(["reference", "--paper-dir", str(shared / "paper"), "--out", str(out)]) == 0
    assert out.read_bytes() == DEFAULT_REFERENCE.read_bytes()


def test_cli_reports_unreadable_workbook(tmp_path, capsys):
    write_fake_workbook(tmp_path / registry.get_dataset("avenue").workbook)
    assert cli_main(["reference", "--paper-dir", str(tmp_path)]) == 2
    assert "error: workbook not found" in capsys.readouterr().err


# ---------------------------------------------------------------- load_reference errors

def test_load_reference_missing_file(tmp_path):
    with pytest.raises(InputError, match=r"reference CSV not found: .*nope\.csv; regenerate it with"):
        load_reference(tmp_path / "nope.csv")


@pytest.mark.parametrize(
    "mutate, pattern",
    [
        (lambda t: t.replace("dataset,extractor", "data,extractor", 1), r"columns \['data'"),
        (lambda t: t.replace("avenue,convnext_tiny,LSTM,accuracy,0.9855", "avenue,convnext,LSTM,accuracy,0.9855"),
         r"line 2: unknown extractor 'convnext'; valid: "),
        (lambda t: t.replace("avenue,convnext_tiny,LSTM,accuracy,0.9855", "avenue,convnext_tiny,LSTM,accuracy,0.98"),
         r"line 2: mean '0\.98' is not a number with 4 decimals"),
        (lambda t: t.replace("avenue,convnext_tiny,LSTM,precision,", "avenue,convnext_tiny,LSTM,accuracy,"),
         r"duplicate rows for \['avenue', 'convnext_tiny', 'LSTM', 'accuracy'\]"),
        (lambda t: "\n".join(t.splitlines()[:-1]) + "\n", r"479 rows, expected 480"),
        (lambda t: "", r"not a readable CSV"),
    ],
    ids=["columns", "name", "decimals", "duplicate", "short", "empty"],
)
def test_load_reference_rejects_malformed(tmp_path, mutate, pattern):
    bad = tmp_path / "bad.csv"
    bad.write_text(mutate(DEFAULT_REFERENCE.read_text(encoding="utf-8")), encoding="utf-8")
    with pytest.raises(InputError, match=r"bad\.csv.*" + pattern):
        load_reference(bad)
