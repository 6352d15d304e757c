"""anomaly-ref: a reproducibility suite for Rahmani & Soleimani's hybrid anomaly detector.

Stages, one subpackage each, data flowing one way (see the README's stage table):
``data`` (manifest -> fetch -> verified files) and ``frames`` -> ``extraction`` (features)
-> ``protocol`` (sequences -> heads -> train -> metrics) -> ``results`` (compare -> report);
``cli`` on top. Shared by all: ``registry``, ``errors``, ``provenance``, ``fileio``, ``valuefmt``.
Heavy dependencies (torch, timm, pooch) are imported by the modules that need them,
so ``import anomaly_ref`` stays cheap and works on minimal images.
"""

__version__ = "0.1.0"
