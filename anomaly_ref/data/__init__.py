"""Stage 1 — data: everything between a URL and a verified file on disk.

In: ``data_manifest.json`` (artifacts, URLs, members, sha256 pins). Out: paths of verified
files in the download cache, and the paper's feature-file format.

- :mod:`.manifest` — load, validate and pin the manifest;
- :mod:`.fetch` — pooch download to a private folder, verify, atomic install, file locks;
- :mod:`.integrity` — sha256 checks, ``.npy`` header checks, safe zip extraction;
- :mod:`.tofu` — first-use sha256 records of unpinned members (``.tofu.json``);
- :mod:`.featurefiles` — ``normal_/anomaly_features_<backbone>.npy`` and their ``.frames.csv`` sidecars;
- :mod:`.paths` — the repository root, ``$ANOMALY_REF_SHARED`` and the cache folder.

Uses only the shared top-level modules (registry, errors, fileio).
"""
