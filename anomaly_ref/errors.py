"""Errors a user can cause. Each message says what failed, where, and what to do.

The CLI prints ``error: <message>`` for these and exits with status 2; anything else
is a bug and keeps its traceback.
"""


class AnomalyRefError(Exception):
    """Base class for every error caused by input, data or configuration."""


class UnknownNameError(AnomalyRefError, KeyError):
    """A registry lookup with a name that is not registered."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class InputError(AnomalyRefError, ValueError):
    """An input file or array is missing, malformed or inconsistent."""


class WorkbookError(AnomalyRefError, ValueError):
    """A cell of a published results workbook cannot be read."""


class ManifestError(AnomalyRefError, ValueError):
    """data_manifest.json is malformed or does not describe the requested artifact."""


class FetchError(AnomalyRefError, OSError):
    """A download failed or produced bytes that do not match the manifest."""


class ExtractionError(AnomalyRefError, RuntimeError):
    """A backbone or frame source cannot be used for feature extraction."""
