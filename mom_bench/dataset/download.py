"""HTTP(S) downloads that never leave a half-written file where a finished one is expected.

A file is downloaded to ``<dest>.part``; an interrupted transfer resumes from the bytes already there
(HTTP Range), a server that ignores the Range header makes it start over, and only a transfer whose
size and checksum (when known) match is renamed to ``dest``. Server errors (5xx, 429), stalls
(socket timeouts), dropped connections and short bodies are retried with exponential backoff; client
errors (404, 403, ...) fail at once. Concurrency is bounded by the caller (the builder's fetch pool).
"""
from __future__ import annotations

import hashlib
import http.client
import os
import random
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

from mom_bench.core import provenance
from mom_bench.core.errors import DownloadError

_RETRY_STATUS = {408, 425, 429, 500, 502, 503, 504}
_CHUNK = 1 << 16


def _check_url(url: str) -> None:
    scheme = urlparse(url).scheme.lower()
    if scheme not in ("http", "https"):
        raise DownloadError(f"refusing to download {url!r}: only http(s) links are allowed")


def _digest(path: Path, algo: str) -> str:
    h = hashlib.new(algo)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def download(url: str, dest: str | Path, *, size: int | None = None, sha256: str | None = None,
             md5: str | None = None, timeout: float = 30.0, retries: int = 4, backoff: float = 1.0,
             max_bytes: int = 1 << 30) -> Path:
    """Download ``url`` to ``dest`` (skipped when ``dest`` exists and matches) and return ``dest``.

    ``timeout`` bounds every connect and every read (a stalled server counts as a failed attempt);
    ``retries`` is the number of extra attempts; the wait before attempt n is about
    ``backoff * 2**(n-1)`` seconds with jitter. ``max_bytes`` guards against a link to something that is
    not a song. Raises :class:`DownloadError` with the reason when the file cannot be had.
    """
    _check_url(url)
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists() and _matches(dest, size, sha256, md5) is None:
        return dest
    part = dest.with_name(dest.name + ".part")
    last_error = "no attempt made"
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(backoff * 2 ** (attempt - 1) * (0.5 + random.random()))
        try:
            _attempt(url, part, timeout=timeout, max_bytes=max_bytes)
        except _Permanent as err:
            part.unlink(missing_ok=True)
            raise DownloadError(f"{url}: {err}") from None
        except _Retry as err:
            last_error = str(err)
            continue
        problem = _matches(part, size, sha256, md5)
        if problem:
            # a complete-looking transfer with the wrong content: start the next attempt from zero
            part.unlink(missing_ok=True)
            last_error = problem
            continue
        os.replace(part, dest)
        return dest
    raise DownloadError(f"{url}: failed after {retries + 1} attempts (last: {last_error})")


class _Retry(Exception):
    pass


class _Permanent(Exception):
    pass


def _matches(path: Path, size, sha256, md5) -> str | None:
    """None when ``path`` agrees with the expected size and checksums, else the reason."""
    n = path.stat().st_size
    if size is not None and n != int(size):
        return f"size {n} bytes, expected {int(size)}"
    if sha256 and _digest(path, "sha256") != sha256.lower():
        return "sha256 mismatch"
    if md5 and _digest(path, "md5") != md5.lower():
        return "md5 mismatch"
    return None


def _attempt(url: str, part: Path, *, timeout: float, max_bytes: int) -> None:
    have = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": f"mom-bench/{provenance.mom_bench_version()}"}
    if have:
        headers["Range"] = f"bytes={have}-"
    req = urllib.request.Request(url, headers=headers)
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and have:  # the part already holds the whole file
            return
        if err.code in _RETRY_STATUS:
            raise _Retry(f"HTTP {err.code}") from None
        raise _Permanent(f"HTTP {err.code} {err.reason}") from None
    except (urllib.error.URLError, TimeoutError, ConnectionError, http.client.HTTPException, OSError) as err:
        raise _Retry(f"{type(err).__name__}: {getattr(err, 'reason', err)}") from None

    with resp:
        status = resp.status
        if status == 206:
            mode = "ab"
            expected_total = None
            crange = resp.headers.get("Content-Range", "")
            if "/" in crange and crange.rsplit("/", 1)[1].isdigit():
                expected_total = int(crange.rsplit("/", 1)[1])
            start = have
        elif status == 200:
            mode, start = "wb", 0  # no Range support: start over
            expected_total = None
        else:
            raise _Retry(f"unexpected HTTP status {status}")
        length = resp.headers.get("Content-Length")
        expected_body = int(length) if length and length.isdigit() else None
        if expected_total is None and expected_body is not None:
            expected_total = start + expected_body
        if expected_total is not None and expected_total > max_bytes:
            raise _Permanent(f"file is {expected_total} bytes, over the {max_bytes}-byte limit")
        got = 0
        try:
            with open(part, mode) as fh:
                while True:
                    block = resp.read(_CHUNK)
                    if not block:
                        break
                    fh.write(block)
                    got += len(block)
                    if start + got > max_bytes:
                        raise _Permanent(f"file exceeds the {max_bytes}-byte limit")
                fh.flush()
                os.fsync(fh.fileno())
        except (TimeoutError, ConnectionError, http.client.HTTPException, OSError) as err:
            raise _Retry(f"transfer interrupted after {start + got} bytes ({type(err).__name__})") from None
        if expected_body is not None and got < expected_body:
            raise _Retry(f"short body: {got} of {expected_body} bytes")
