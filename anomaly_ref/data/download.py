"""HTTP downloads through pooch, hardened: bounded bytes, hopeless failures not retried,
one error line per failure.

pooch brings the retries (1 s, 2 s, ... between attempts), the tqdm progress bar and the
sha256 check. On top of it: every request asks for ``Accept-Encoding: identity`` and the
bytes written are counted after decoding, so a small compressed reply cannot fill the
disk; an HTTP 4xx reply or a connection that cannot be made at all (refused, no DNS) ends
the attempts at once; and whatever requests or pooch raise becomes one
:class:`~anomaly_ref.errors.FetchError` naming the file, the URL and the ways out.
"""

from __future__ import annotations

import functools
import logging
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ..errors import FetchError

log = logging.getLogger(__name__)

WAYS_OUT = (
    "ways out: a network that reaches the source; a mirror (--mirror URL / $ANOMALY_REF_MIRROR); the folder "
    "downloaded in a browser or copied from a colleague (fetch --from PATH / $ANOMALY_REF_FROM); or a filled "
    "cache with --offline (README: No access to Dropbox?)"
)


class _NotRetried(Exception):
    """A failure another attempt cannot mend (HTTP 4xx, no connection at all): pooch's retry
    loop catches only ValueError and RequestException, so this ends it at once."""


class _TooMuch(FetchError):
    """The server sent more bytes than the manifest allows (an OSError: pooch does not retry it)."""


class _CappedFile:
    """The file pooch streams into, refusing to grow past ``bound`` decoded bytes."""

    def __init__(self, raw, bound: tuple[int, str], fname: str, url: str) -> None:
        self.raw, self.bound, self.fname, self.url, self.written = raw, bound, fname, url, 0

    def write(self, chunk: bytes) -> int:
        self.written += len(chunk)
        if self.written > self.bound[0]:
            raise _TooMuch(
                f"{self.fname}: {self.url} sent more than the {self.bound[0]} bytes allowed ({self.bound[1]}); "
                f"stopped after {self.written} bytes, nothing was written to the cache. The server is not "
                "sending the expected file: use --mirror or report it"
            )
        return self.raw.write(chunk)

    def flush(self) -> None:
        self.raw.flush()


@functools.cache
def _downloader_class():
    """pooch's HTTPDownloader, counting attempts, capping bytes and ending hopeless retries."""
    import pooch
    import requests
    import urllib3

    class Downloader(pooch.HTTPDownloader):
        def __init__(self, bound: tuple[int, str], fname: str, **kwargs) -> None:
            super().__init__(**kwargs)
            self.bound, self.fname, self.attempts = bound, fname, 0

        def __call__(self, url, output_file, pooch_obj, check_only=False):
            self.attempts += 1
            with open(output_file, "w+b") as raw:
                try:
                    return super().__call__(url, _CappedFile(raw, self.bound, self.fname, url), pooch_obj, check_only)
                except requests.HTTPError as exc:
                    if 400 <= exc.response.status_code < 500:
                        raise _NotRetried() from exc
                    raise
                except requests.ConnectionError as exc:
                    reason = getattr(exc.args[0], "reason", None) if exc.args else None
                    if isinstance(reason, urllib3.exceptions.NewConnectionError):  # refused, no DNS
                        raise _NotRetried() from exc
                    raise

    return Downloader


def get(url: str, target: Path, sha256: str | None, bound: tuple[int, str], *, retries: int, timeout: float,
        progress: bool = False) -> Path:
    """Download ``url`` to ``target`` with pooch: ``retries`` extra attempts, progress bar,
    sha256 check where given, at most ``bound[0]`` bytes after decoding. Returns ``target``."""
    import pooch
    import requests

    work, fname = target.parent, target.name

    fetcher = pooch.create(
        path=work, base_url="", registry={fname: f"sha256:{sha256}" if sha256 else None},
        urls={fname: url}, retry_if_failed=retries,
    )
    # identity: a small compressed reply must not expand past the bound (it is counted decoded anyway)
    downloader = _downloader_class()(bound, fname, progressbar=progress, timeout=timeout,
                                     headers={"Accept-Encoding": "identity"})
    try:
        with _quiet_pooch():
            path = Path(fetcher.fetch(fname, downloader=downloader))
    except _NotRetried as exc:
        raise _explain(exc.__cause__, fname, url, downloader.attempts, timeout, retried=False) from None
    except FetchError:
        raise
    except (requests.RequestException, ValueError) as exc:
        raise _explain(exc, fname, url, downloader.attempts, timeout) from None
    if not path.is_file():  # pooch made no attempt (retry_if_failed < 0)
        raise FetchError(
            f"{fname}: the download from {url} produced no file; nothing was written to the cache. "
            f"retries was {retries!r} (expected >= 0): build Options with fetch.options()"
        )
    return path


def _explain(exc: Exception, fname: str, url: str, attempts: int, timeout: float, retried: bool = True) -> FetchError:
    """One FetchError line for what requests or pooch raised (``retried``: False when the
    failure ended the attempts at once)."""
    import requests

    tried = f"{attempts} attempt(s)"
    if isinstance(exc, requests.HTTPError):
        return FetchError(
            f"{fname}: HTTP {exc.response.status_code} from {url} after {tried}; nothing was written "
            f"to the cache. The link may have moved. {WAYS_OUT}"
        )
    if isinstance(exc, requests.Timeout):
        return FetchError(
            f"{fname}: no data from {url} for {timeout:g} s, {tried} ({exc}); nothing was "
            f"written to the cache. Retry later or raise --timeout; {WAYS_OUT}"
        )
    if isinstance(exc, (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
                        requests.exceptions.InvalidSchema)):  # also ValueErrors: tested before the hash case
        return FetchError(
            f"{fname}: cannot request {url}: {exc}; nothing was written to the cache. Fix the URL "
            "(the artifact's url in data_manifest.json, or --mirror)"
        )
    if isinstance(exc, requests.ConnectionError) and not retried:
        return FetchError(
            f"{fname}: cannot connect to {url} ({exc}); not retried (no connection could be made); nothing was "
            f"written to the cache. {WAYS_OUT}"
        )
    if isinstance(exc, requests.RequestException):  # refused, reset, body shorter than Content-Length
        return FetchError(
            f"{fname}: download from {url} broke off after {tried} ({exc}); nothing was written to "
            f"the cache. Retry later; {WAYS_OUT}"
        )
    return FetchError(  # pooch: hash mismatch (message has expected and found)
        f"{fname}: sha256 mismatch from {url} after {tried}: {exc} Nothing was written to the "
        "cache. Retry later, use --mirror, or, if the source changed on purpose, update data_manifest.json"
    )


@contextmanager
def _quiet_pooch() -> Iterator[None]:
    """Keep pooch's INFO lines ("Downloading file ...", on its own stderr handler) out of the
    output unless this module logs at INFO (``-v``), so a CLI error stays one line.

    A filter rather than ``setLevel``: each call adds and removes its own, so concurrent
    downloads in threads cannot restore a stale level.
    """
    import pooch

    if log.isEnabledFor(logging.INFO):
        yield
        return
    logger = pooch.get_logger()

    def warnings_only(record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING

    logger.addFilter(warnings_only)
    try:
        yield
    finally:
        logger.removeFilter(warnings_only)
