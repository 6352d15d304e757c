"""The package layout holds: no import cycles, and imports run from higher stages to lower.

Stages (CONVENTIONS.md §11): the shared top-level modules (registry, errors, provenance,
fileio, valuefmt) < ``data``, ``frames`` < ``extraction``, ``protocol`` < ``studies``,
``results`` < ``cli``. A module may import its own subpackage, the shared modules, and
stages strictly below its own; siblings on one level (data/frames, extraction/protocol,
studies/results) stay apart: a study never renders a report, and the results stage, which
reads result files, never runs a study.
Imports are read with ``ast`` (those inside functions and ``TYPE_CHECKING`` blocks too),
so a lazy import cannot hide a wrong-way dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import anomaly_ref

LEVELS = {"shared": 0, "data": 1, "frames": 1, "extraction": 2, "protocol": 2, "studies": 3, "results": 3,
          "cli": 4}


def modules(root: Path, package: str) -> dict[str, Path]:
    """``{dotted module name: file}`` for every ``.py`` under ``root`` (a package folder)."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = [package, *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Modules of ``known`` that module ``name`` (file ``path``) imports, wherever the import sits."""
    is_pkg = path.name == "__init__.py"
    here = name.split(".") if is_pkg else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = here[: len(here) - node.level + 1] if node.level else []
            mod = ".".join(base + ([node.module] if node.module else []))
            # ``from pkg import sub`` imports the module pkg.sub; ``from mod import name`` imports mod.
            targets = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in known else mod for a in node.names]
        else:
            continue
        found.update(t for t in targets if t in known and t != name)
    return found


def graph(root: Path, package: str) -> dict[str, set[str]]:
    mods = modules(root, package)
    return {name: imports(name, path, set(mods)) for name, path in mods.items()}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as ``[a, b, ..., a]``, or None (iterative DFS, three colours)."""
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    for start in sorted(edges):
        if state.get(start):
            continue
        path, stack = [start], [iter(sorted(edges[start]))]
        state[start] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            elif not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(sorted(edges.get(nxt, ()))))
    return None


def stage(module: str) -> str:
    parts = module.split(".")
    if len(parts) > 1 and parts[1] == "__main__":
        return "cli"
    return parts[1] if len(parts) > 1 and parts[1] in LEVELS else "shared"


def wrong_way(edges: dict[str, set[str]]) -> list[str]:
    """``"a -> b (stage x may not import stage y)"`` for every import against the layering."""
    bad = []
    for src, targets in sorted(edges.items()):
        for dst in sorted(targets):
            s, d = stage(src), stage(dst)
            if s == d or d == "shared" or LEVELS[d] < LEVELS[s]:
                continue
            bad.append(f"{src} -> {dst} (stage {s} may not import stage {d})")
    return bad


# ------------------------------------------------------------------- the package


PACKAGE_ROOT = Path(anomaly_ref.__file__).resolve().parent
EDGES = graph(PACKAGE_ROOT, "anomaly_ref")


def test_every_subpackage_is_a_known_stage():
    subs = {p.name for p in PACKAGE_ROOT.iterdir() if (p / "__init__.py").is_file()}
    assert subs == set(LEVELS) - {"shared"}
    for sub in subs:
        doc = ast.get_docstring(ast.parse((PACKAGE_ROOT / sub / "__init__.py").read_text()))
        assert doc and len(doc.split()) > 20, f"anomaly_ref/{sub}/__init__.py needs a docstring saying what the stage does"


def test_no_import_cycles():
    cycle = find_cycle(EDGES)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_imports_run_from_higher_stages_to_lower():
    assert wrong_way(EDGES) == []


def test_the_graph_sees_lazy_imports():
    # cli/extract.py imports the extraction stage inside its run(): the walk must see it.
    assert "anomaly_ref.extraction.paper" in EDGES["anomaly_ref.cli.extract"]
    assert "anomaly_ref.data.featurefiles" in EDGES["anomaly_ref.extraction.fast"]


def test_the_cli_and_the_bench_run_studies_through_the_studies_stage():
    # One function per study: the CLI reaches the runner and the audit only through studies/.
    assert "anomaly_ref.studies.reproduce" in EDGES["anomaly_ref.cli.reproduce"]
    assert "anomaly_ref.studies.audit" in EDGES["anomaly_ref.cli.audit"]
    assert "anomaly_ref.studies.gradcam" in EDGES["anomaly_ref.cli.gradcam"]
    runners = ("run_protocol", "run_standard", "run_audit", "run_gradcam", "extract_cached", "open_source")
    bench = Path(__file__).resolve().parents[1] / "bench"
    for path in [PACKAGE_ROOT / "cli" / f"{c}.py" for c in ("reproduce", "audit", "gradcam")] + [
            bench / "test_reproduce.py", bench / "test_audit.py"]:
        text = path.read_text()
        assert not [r for r in runners if r in text], f"{path.name} assembles a study from lower stages"


# ------------------------------------------------- the checks can fail (fixtures)


def _tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / "pkg" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "pkg"


def test_a_cycle_is_found(tmp_path):
    root = _tree(tmp_path, {
        "__init__.py": "",
        "frames/__init__.py": "",
        "frames/a.py": "def f():\n    from .b import g\n",
        "frames/b.py": "from . import a\n",
    })
    assert find_cycle(graph(root, "pkg")) == ["pkg.frames.a", "pkg.frames.b", "pkg.frames.a"]


@pytest.mark.parametrize("src, text, expected", [
    ("protocol/m.py", "from ..results import report\n", "stage protocol may not import stage results"),
    ("data/m.py", "from ..frames.x import y\n", "stage data may not import stage frames"),
    ("errors.py", "from .protocol import m\n", "stage shared may not import stage protocol"),
    ("extraction/m.py", "import pkg.protocol.m\n", "stage extraction may not import stage protocol"),
    # results reads result files: a study runner imported there (even lazily) is refused ...
    ("results/m.py", "def f():\n    from ..studies.audit import execute\n", "stage results may not import stage studies"),
    # ... and a study does not render reports.
    ("studies/m.py", "from ..results import report\n", "stage studies may not import stage results"),
    ("protocol/m.py", "from ..studies import m\n", "stage protocol may not import stage studies"),
    ("studies/m.py", "from ..cli import m\n", "stage studies may not import stage cli"),
])
def test_a_wrong_way_import_is_found(tmp_path, src, text, expected):
    files = {"__init__.py": "", "errors.py": ""}
    for sub in ("data", "frames", "extraction", "protocol", "studies", "results", "cli"):
        files[f"{sub}/__init__.py"] = ""
        files[f"{sub}/m.py"] = ""
        files[f"{sub}/x.py"] = ""
    files["results/report.py"] = ""
    files["studies/audit.py"] = ""
    files[src] = text
    bad = wrong_way(graph(_tree(tmp_path, files), "pkg"))
    assert len(bad) == 1 and expected in bad[0]


def test_allowed_imports_pass(tmp_path):
    root = _tree(tmp_path, {
        "__init__.py": "", "registry.py": "",
        "data/__init__.py": "", "data/f.py": "from .. import registry\n",
        "protocol/__init__.py": "", "protocol/p.py": "from ..data import f\nfrom . import q\n", "protocol/q.py": "",
        "results/__init__.py": "", "results/r.py": "from ..protocol.p import x\n",
        "studies/__init__.py": "", "studies/s.py": "from ..protocol.p import x\nfrom ..data import f\n",
        "cli/__init__.py": "", "cli/c.py": "from ..studies import s\nfrom ..results import r\n",
    })
    assert wrong_way(graph(root, "pkg")) == [] and find_cycle(graph(root, "pkg")) is None
