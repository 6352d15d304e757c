"""anomaly-ref: a reproducibility suite for Rahmani & Soleimani's hybrid anomaly detector.

Stages, one module each, data flowing one way:
manifest -> fetch -> features -> sequences -> heads -> train -> metrics -> compare -> report.
Heavy dependencies (torch, timm, pooch) are imported by the modules that need them,
so ``import anomaly_ref`` stays cheap and works on minimal images.
"""

__version__ = "0.1.0"
