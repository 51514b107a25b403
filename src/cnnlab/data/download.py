"""Downloading a dataset file: official mirrors in turn, a progress bar, a checksum, and an
atomic rename, so a cut connection never leaves a partial file where a complete one belongs."""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from tqdm import tqdm

CHUNK = 1 << 16


class DownloadError(FileNotFoundError):
    """The file could not be fetched; the message says how to get it by hand."""


def md5_of(data_or_path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    if isinstance(data_or_path, (bytes, bytearray, memoryview)):
        digest.update(data_or_path)
        return digest.hexdigest()
    with open(data_or_path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _progress(name: str, total: int | None):
    return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=name,
                file=sys.stderr, leave=False, disable=None)


def _fetch_one(url: str, destination: Path, md5: str, timeout: float) -> None:
    partial = None
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, \
                tempfile.NamedTemporaryFile(dir=destination.parent, prefix=destination.name,
                                            suffix=".part", delete=False) as handle:
            partial = handle.name
            total = response.headers.get("Content-Length")
            digest = hashlib.md5(usedforsecurity=False)
            with _progress(destination.name, int(total) if total else None) as bar:
                for chunk in iter(lambda: response.read(CHUNK), b""):
                    handle.write(chunk)
                    digest.update(chunk)
                    bar.update(len(chunk))
            handle.flush()
            os.fsync(handle.fileno())
        if digest.hexdigest() != md5:
            raise ValueError(f"{url} gave a file whose md5 is {digest.hexdigest()}, expected "
                             f"{md5}; it was not kept")
        os.replace(partial, destination)
        partial = None
    finally:
        if partial is not None and os.path.exists(partial):
            os.unlink(partial)


def download(name: str, urls: list[str], destination: Path, md5: str,
             how_to_get_it: str, timeout: float = 30.0) -> Path:
    """Fetch `name` from the first of `urls` that works into `destination`, checked against
    `md5`. Raises DownloadError (with `how_to_get_it`) when no mirror can be reached."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    failures = []
    for url in urls:
        print(f"downloading {url}", file=sys.stderr)
        try:
            _fetch_one(url, destination, md5, timeout)
            return destination
        except (urllib.error.URLError, OSError, ValueError) as error:
            failures.append(f"{url}: {getattr(error, 'reason', error)}")
    raise DownloadError(f"could not download {name} ({'; '.join(failures)}). {how_to_get_it}")
