"""anomaly_ref.cli: one vocabulary and clean errors across subcommands (issue 24, item 6).

Every parser of the CLI is read from ``build_parser()``, so a new subcommand or option is
held to the same rules without a new line here: help text for every option, an example in
every help page, ``--backbone`` wherever a backbone is picked, argument errors on one line.
"""

from __future__ import annotations

import argparse
import re

import pytest

from anomaly_ref import registry
from anomaly_ref.cli import build_parser, main

from test_cli_imports import _id, commands


def parser_of(path: tuple[str, ...]) -> argparse.ArgumentParser:
    parser = build_parser()
    for name in path:
        parser = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[name]
    return parser


PATHS = commands()
# The commands that pick a backbone, and those that called it --extractor before issue 24.
WITH_BACKBONE = {("audit",), ("extract",), ("fetch",), ("gradcam",), ("report",), ("reproduce",), ("standard",)}
OLDER_EXTRACTOR = {("fetch",), ("report",), ("reproduce",)}


@pytest.mark.parametrize("path", PATHS, ids=_id)
def test_every_option_has_help(path):
    missing = [a.option_strings or a.dest for a in parser_of(path)._actions
               if not (a.help and a.help.strip()) or a.help == argparse.SUPPRESS]
    assert missing == []


@pytest.mark.parametrize("path", PATHS, ids=_id)
def test_every_help_page_has_an_example(path, capsys):
    parser = parser_of(path)
    assert re.search(r"\bexamples?:", parser.epilog or ""), f"no 'example:' in the epilog of {parser.prog}"
    with pytest.raises(SystemExit) as exc:
        main([*path, "--help"])
    text = capsys.readouterr().out
    assert exc.value.code == 0 and re.search(r"\bexamples?:\s+anomaly-ref ", text)
    assert "%%" not in text  # argparse %-formats help= only: a doubled % elsewhere is printed as is


def test_gradcam_help_says_top_k_percent_once(capsys):
    with pytest.raises(SystemExit):
        main(["gradcam", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "top-k% IoU" in text


def test_backbone_is_one_option_everywhere():
    have = {p for p in PATHS if any("--backbone" in a.option_strings for a in parser_of(p)._actions)}
    assert have == WITH_BACKBONE
    for path in PATHS:
        for action in parser_of(path)._actions:
            if {"--backbone", "--extractor"} & set(action.option_strings):
                assert action.dest == "backbone" and action.option_strings[0] == "--backbone", path
                assert ("--extractor" in action.option_strings) == (path in OLDER_EXTRACTOR), path


@pytest.mark.parametrize("path", sorted(OLDER_EXTRACTOR), ids=_id)
@pytest.mark.parametrize("flag", ["--backbone", "--extractor"])
def test_extractor_is_kept_as_an_alias(path, flag):
    name = registry.paper_backbones()[0]
    args, _ = parser_of(path).parse_known_args([flag, name, "--dataset", "ped2", "--out", "x"])
    assert args.backbone == name and not hasattr(args, "extractor")


def _one_line_error(capsys, argv: list[str], *parts: str) -> str:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    captured = capsys.readouterr()
    err = captured.err
    assert exc.value.code == 2 and captured.out == ""
    assert err.startswith("error: ") and err.count("\n") == 1 and "usage:" not in err, err
    for part in parts:
        assert part in err, err
    return err


@pytest.mark.parametrize("path", PATHS, ids=_id)
def test_an_argument_error_is_one_line_naming_the_help_to_read(path, capsys):
    # An unknown option, or the required options it comes without: either way one line.
    _one_line_error(capsys, [*path, "--no-such-option"], f"see '{' '.join(('anomaly-ref', *path))} --help'")


DATASETS = ", ".join(repr(d) for d in registry.DATASETS)


@pytest.mark.parametrize("argv, parts", [
    (["audit", "--source", "s", "--dataset", "ped3", "--backbone", "repvgg_a0", "--out", "o"],
     ["argument --dataset: invalid choice: 'ped3'", f"(choose from {DATASETS})", "see 'anomaly-ref audit --help'"]),
    (["reproduce", "--extractor", "resnet50"],
     ["argument --backbone/--extractor: invalid choice: 'resnet50'", "'convnext_tiny'", "'coatnet_0_rw_224'"]),
    (["gradcam", "--source", "s", "--dataset", "ped2", "--backbone", "repvgg_a0", "--out", "o", "--formula", "x"],
     ["argument --formula: invalid choice: 'x'", "'paper', 'gradcam++', 'both'"]),
    (["manifest", "verify", "--dataset", "ped9"],
     ["invalid choice: 'ped9'", "see 'anomaly-ref manifest verify --help'"]),
    (["frobnicate"], ["argument COMMAND: invalid choice: 'frobnicate'", "'audit'", "see 'anomaly-ref --help'"]),
    (["audit"], ["the following arguments are required: --dataset, --backbone, --out"]),
], ids=["audit-dataset", "reproduce-backbone", "gradcam-formula", "manifest-dataset", "command", "required"])
def test_an_invalid_choice_is_one_line_listing_the_valid_ones(capsys, argv, parts):
    # argparse printed the whole usage first (13 lines for audit) before issue 24.
    _one_line_error(capsys, argv, *parts)
