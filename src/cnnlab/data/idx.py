"""The IDX format of MNIST and Fashion-MNIST: a magic number, the dimensions, raw values.

Every file is checked against its own header, so a truncated or corrupt download is an error
that names the file, never a silently shorter dataset.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

# The third byte of the magic number names the element type (big-endian for multi-byte).
_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | Path) -> np.ndarray:
    path = Path(path)
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, zlib.error) as error:
        raise ValueError(f"{path}: cannot be read as {'gzip' if path.suffix == '.gz' else 'IDX'}"
                         f" ({error}); the file is truncated or corrupt") from error
    return parse_idx(raw, path)


def parse_idx(raw: bytes, path: str | Path) -> np.ndarray:
    """The array in the (decompressed) bytes of an IDX file; `path` names it in errors."""
    if len(raw) < 4 or raw[:2] != b"\x00\x00" or raw[2] not in _DTYPES:
        raise ValueError(f"{path}: not an IDX file (its first bytes {raw[:4].hex()} are not an "
                         "IDX magic number 0000TTDD)")
    dtype, ndim = np.dtype(_DTYPES[raw[2]]), raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: truncated inside its header")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    expected = int(np.prod(dims)) * dtype.itemsize
    if len(raw) - header != expected:
        raise ValueError(f"{path}: the header announces shape {dims} ({expected} bytes of data) "
                         f"but the file holds {len(raw) - header}; it is truncated or corrupt")
    values = np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims)
    return values.astype(dtype.newbyteorder("="))  # native byte order, and a writable copy


def write_idx(path: str | Path, array: np.ndarray) -> None:
    """Write an array in IDX format (gzip-compressed when the name ends in .gz)."""
    codes = {np.dtype(v).newbyteorder(">"): k for k, v in _DTYPES.items()}
    big_endian = array.astype(np.dtype(array.dtype).newbyteorder(">"))
    code = codes[big_endian.dtype]
    data = (bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
            + big_endian.tobytes())
    path = Path(path)
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
