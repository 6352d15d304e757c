"""data_manifest.json: load it, validate it, and write pins into it.

The manifest names every artifact anomaly-ref downloads (the authors' Dropbox feature
folders, the paper's result workbooks) and what their bytes must be. It is checked
twice: against ``manifest.schema.json`` (shape and types) and against the registry
(known datasets and extractors, feature dims, row counts). Every error names the
manifest file, the JSON path, the expected and the found value, and what to do.

Found via ``--manifest``, else ``$ANOMALY_REF_MANIFEST``, else ``data_manifest.json`` at
the root of the checkout this package runs from, else the copy installed with the package
(``paths.project_file``). Pins are written only to a checkout's file or an explicit one.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from .. import registry
from ..errors import ManifestError
from ..fileio import atomic_write_text
from .featurefiles import SPLITS, paper_name
from .paths import is_packaged, project_file

log = logging.getLogger(__name__)

MANIFEST_ENV = "ANOMALY_REF_MANIFEST"
MANIFEST_NAME = "data_manifest.json"
SCHEMA_VERSION = 1
SCHEMA_PATH = Path(__file__).with_name("manifest.schema.json")
_FIX = f"fix the entry (format: docs/fetch.md, schema: {SCHEMA_PATH.name})"


@dataclass(frozen=True)
class Member:
    """One file of an artifact. Feature members (``.npy``) also carry the array checks."""

    name: str  # plain file name inside the artifact's folder
    sha256: str | None  # None: not pinned yet (accepted after the array checks, with a warning)
    size: int | None = None  # bytes, where known
    extractor: str | None = None  # backbone name (feature members only)
    cls: str | None = None  # "normal" | "anomaly" (feature members only)
    dtype: str | None = None  # "float32" (feature members only)
    dim: int | None = None  # columns of the (rows, dim) array
    rows: int | None = None  # rows, where known
    optional: bool = False  # a folder may lack it (the folder's .txt); verified and kept when present

    @property
    def is_feature(self) -> bool:
        return self.dtype is not None


@dataclass(frozen=True)
class Artifact:
    """One download: a folder zip of feature files, a single file, or official frame archives."""

    id: str  # "features/ped2": the folder under the cache dir and under a mirror URL
    kind: str  # "dropbox-folder-zip" | "file" | "frames-archive"
    dataset: str  # registry dataset key
    url: str  # as published (Dropbox links keep dl=0 here); frames-archive: the folder, + member name
    members: tuple[Member, ...]
    datasets: tuple[str, ...] = ()  # frames-archive: every dataset it serves (default: (dataset,))
    layout: str | None = None  # frames-archive: anomaly_ref.data.layouts.LAYOUTS key

    @property
    def served(self) -> tuple[str, ...]:
        """Every dataset this artifact serves: ``datasets``, else its one ``dataset``."""
        return self.datasets or (self.dataset,)

    def serves(self, dataset: str) -> bool:
        return dataset in self.served

    def member_url(self, member: Member) -> str:
        """frames-archive: where a member is published (the artifact's folder URL + its name)."""
        from urllib.parse import quote

        return self.url + quote(member.name)

    def member(self, name: str) -> Member:
        """The member called ``name``, or an error listing the valid names."""
        return registry.lookup({m.name: m for m in self.members}, name, f"member of {self.id}")

    def feature(self, extractor: str, cls: str) -> Member:
        """The feature member for ``extractor`` and class ``cls`` ("normal"/"anomaly")."""
        for m in self.members:
            if m.extractor == extractor and m.cls == cls:
                return m
        raise ManifestError(
            f"{self.id}: no {cls} member for extractor {extractor!r}; listed extractors: "
            f"{', '.join(sorted({m.extractor or '?' for m in self.members}))}"
        )


@dataclass(frozen=True)
class Manifest:
    path: Path
    schema_version: int
    artifacts: Mapping[str, Artifact]  # by id, in file order

    def frames(self, dataset: str) -> Artifact:
        """The frames-archive artifact serving ``dataset``, or an error naming what exists."""
        for art in self.artifacts.values():
            if art.kind == "frames-archive" and art.serves(dataset):
                return art
        have = [a.id for a in self.artifacts.values() if a.kind == "frames-archive"]
        raise ManifestError(
            f"{self.path}: no frames-archive artifact serves dataset {dataset!r} (frame archives listed: "
            f"{', '.join(have) or 'none'}); add one (docs/fetch.md, Official frame archives)"
        )

    def artifact(self, artifact_id: str) -> Artifact:
        """The artifact with this id, or an error listing the valid ids."""
        try:
            return self.artifacts[artifact_id]
        except KeyError:
            raise ManifestError(
                f"{self.path}: no artifact {artifact_id!r}; valid: {', '.join(self.artifacts)}"
            ) from None


def default_path(explicit: str | os.PathLike | None = None) -> Path:
    """``explicit``, else ``$ANOMALY_REF_MANIFEST``, else the checkout's (or the installed) data_manifest.json."""
    if explicit is not None:
        path, source = Path(explicit), "--manifest"
    elif os.environ.get(MANIFEST_ENV):
        path, source = Path(os.environ[MANIFEST_ENV]), f"${MANIFEST_ENV}"
    else:
        path = project_file(MANIFEST_NAME)
        source = "the copy installed with anomaly-ref" if is_packaged(path) else "the checkout's root"
    path = path.expanduser()
    if not path.is_file():
        raise ManifestError(
            f"manifest not found: {path} (from {source}); pass --manifest PATH or set "
            f"${MANIFEST_ENV} to the data_manifest.json of an anomaly-ref checkout"
        )
    return path


def load(path: str | os.PathLike | Manifest | None = None) -> Manifest:
    """Read, schema-check and registry-check a manifest (``path`` as :func:`default_path`)."""
    if isinstance(path, Manifest):
        return path
    file = default_path(path)
    try:
        doc = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{file}: cannot read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ManifestError(
            f"{file}: line {exc.lineno} column {exc.colno}: not valid JSON ({exc.msg}); fix the syntax"
        ) from None
    return parse(doc, file)


def parse(doc: Any, file: Path) -> Manifest:
    """Validate a decoded manifest document and build the :class:`Manifest`."""
    check_schema(doc, file)
    artifacts: dict[str, Artifact] = {}
    for i, raw in enumerate(doc["artifacts"]):
        art = _artifact(raw)
        where = f"{file}: $.artifacts[{i}]"
        if art.id in artifacts:
            raise ManifestError(f"{where}.id: duplicate id {art.id!r}; each artifact id must be unique")
        check_registry(art, where)
        artifacts[art.id] = art
    return Manifest(file, doc["schema_version"], artifacts)


def check_schema(doc: Any, file: Path) -> None:
    """Raise :class:`ManifestError` for the first schema violation (JSON path, expected, found)."""
    import jsonschema

    if isinstance(doc, dict) and doc.get("schema_version", SCHEMA_VERSION) != SCHEMA_VERSION:
        raise ManifestError(
            f"{file}: $.schema_version: expected {SCHEMA_VERSION}, found {doc['schema_version']!r}; "
            "this anomaly-ref reads only that version: upgrade anomaly-ref or use a matching manifest"
        )
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    # best_match picks one error, the most specific of a oneOf / if-then failure.
    err = jsonschema.exceptions.best_match(validator.iter_errors(doc))
    if err is not None:
        raise ManifestError(
            f"{file}: {err.json_path}: {err.message} (found {err.instance!r}); {_FIX}"
        )


def check_registry(art: Artifact, where: str) -> None:
    """The manifest must agree with the registry: known dataset and extractors, dims, rows,
    and each feature member's name must be the paper's name for its class and extractor
    (a name that disagreed with ``class`` would silently swap normal and anomaly)."""
    for key, name in [("dataset", art.dataset)] + [(f"datasets[{k}]", d) for k, d in enumerate(art.datasets)]:
        if name not in registry.DATASETS:
            raise ManifestError(
                f"{where}.{key}: expected one of {', '.join(registry.DATASETS)}, found {name!r}; {_FIX}"
            )
    if art.datasets and art.dataset not in art.datasets:
        raise ManifestError(f"{where}.datasets: expected to include dataset {art.dataset!r}, found {list(art.datasets)}; {_FIX}")
    if art.layout is not None:
        from .layouts import LAYOUTS

        if art.layout not in LAYOUTS:
            raise ManifestError(f"{where}.layout: expected one of {', '.join(LAYOUTS)}, found {art.layout!r}; {_FIX}")
        missing = [d for d in art.served if d not in LAYOUTS[art.layout].sources]
        if missing:
            raise ManifestError(f"{where}.layout: layout {art.layout!r} does not place the frames of {missing}; {_FIX}")
    seen: set[str] = set()
    for j, m in enumerate(art.members):
        at = f"{where}.members[{j}]"
        if m.name in seen:
            raise ManifestError(f"{at}.name: duplicate member {m.name!r}; {_FIX}")
        seen.add(m.name)
        if not m.is_feature:
            continue
        if m.extractor not in registry.BACKBONES:
            raise ManifestError(
                f"{at}.extractor: expected one of {', '.join(registry.BACKBONES)}, found {m.extractor!r}; {_FIX}"
            )
        label = {cls: label for label, cls in SPLITS.items()}[m.cls]
        expected = paper_name(label, m.extractor)
        if m.name != expected:
            raise ManifestError(
                f"{at}.name: expected {expected!r} (the paper's name for class {m.cls!r}, extractor "
                f"{m.extractor!r}), found {m.name!r}; {_FIX}"
            )
        dim = registry.BACKBONES[m.extractor].feature_dim
        if m.dim != dim:
            raise ManifestError(f"{at}.dim: expected {dim} (registry, {m.extractor}), found {m.dim}; {_FIX}")
        ds = registry.DATASETS[art.dataset]
        rows = ds.n_normal if m.cls == "normal" else ds.n_anomaly
        if rows is not None and m.rows != rows:
            raise ManifestError(f"{at}.rows: expected {rows} (registry, {art.dataset}), found {m.rows}; {_FIX}")


def _artifact(raw: Mapping[str, Any]) -> Artifact:
    members = tuple(
        Member(
            name=m["name"],
            sha256=m["sha256"],
            size=m.get("size"),
            extractor=m.get("extractor"),
            cls=m.get("class"),
            dtype=m.get("dtype"),
            dim=m.get("dim"),
            rows=m.get("rows"),
            optional=m.get("optional", False),
        )
        for m in raw["members"]
    )
    return Artifact(raw["id"], raw["kind"], raw["dataset"], raw["url"], members,
                    tuple(raw.get("datasets", ())), raw.get("layout"))


def write_pins(path: str | os.PathLike, pins: Mapping[tuple[str, str], tuple[str, int]]) -> list[tuple[str, str]]:
    """Record ``{(artifact_id, member_name): (sha256, size)}`` into the manifest file.

    Only members whose ``sha256`` is null are changed: an existing pin is never
    overwritten (a different file is a mismatch, not a new pin). The file is
    re-validated and replaced atomically. Returns the (id, name) pairs written.
    """
    file = Path(path)
    if is_packaged(file):
        raise ManifestError(
            f"{file} is the manifest installed with anomaly-ref; pins are not written there (a "
            f"reinstall would undo them): pass --manifest (or set ${MANIFEST_ENV}) naming the "
            "data_manifest.json of your anomaly-ref checkout, or a copy of this file"
        )
    doc = json.loads(file.read_text(encoding="utf-8"))
    written: list[tuple[str, str]] = []
    for art in doc["artifacts"]:
        for m in art["members"]:
            key = (art["id"], m["name"])
            if key in pins and m.get("sha256") is None:
                m["sha256"], m["size"] = pins[key]
                written.append(key)
    parse(doc, file)  # never write a manifest this module would refuse to read
    atomic_write_text(file, json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    log.info("pinned %d member(s) in %s", len(written), file)
    return written


def iter_members(manifest: Manifest, datasets: Iterable[str] | None = None):
    """``(artifact, member)`` pairs, optionally restricted to some dataset keys."""
    wanted = set(datasets) if datasets else None
    for art in manifest.artifacts.values():
        if wanted is None or any(art.serves(d) for d in wanted):
            for m in art.members:
                yield art, m
