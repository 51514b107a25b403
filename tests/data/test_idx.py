"""The IDX reader on files written in the official format, corrupted ones, and the real data."""

import gzip

import numpy as np
import pytest

from cnnlab.data.idx import read_idx, write_idx


@pytest.mark.parametrize("suffix", [".gz", ""])
@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32,
                                   np.float64])
def test_round_trip(tmp_path, suffix, dtype):
    array = (np.arange(2 * 3 * 4) - 5).astype(dtype).reshape(2, 3, 4)
    if dtype == np.uint8:
        array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    path = tmp_path / f"a-idx3{suffix}"
    write_idx(path, array)
    loaded = read_idx(path)
    np.testing.assert_array_equal(loaded, array)
    assert loaded.dtype == np.dtype(dtype)


def test_the_official_header_layout(tmp_path):
    # MNIST's labels file: magic 0x00000801, then the count, then one byte per label.
    path = tmp_path / "labels-idx1-ubyte"
    path.write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 2, 1]))
    np.testing.assert_array_equal(read_idx(path), [7, 2, 1])


def test_truncated_files_name_the_file_and_the_shortfall(tmp_path):
    path = tmp_path / "images-idx3-ubyte"
    write_idx(path, np.zeros((10, 28, 28), np.uint8))
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ValueError, match=r"images-idx3-ubyte: the header announces shape "
                                         r"\(10, 28, 28\) \(7840 bytes of data\) but the file "
                                         r"holds 7740"):
        read_idx(path)


def test_broken_gzip_and_foreign_files_are_refused(tmp_path):
    broken = tmp_path / "x.gz"
    broken.write_bytes(gzip.compress(b"\x00\x00\x08\x01" + b"\x00" * 40)[:20])
    with pytest.raises(ValueError, match=r"x\.gz: cannot be read as gzip"):
        read_idx(broken)
    foreign = tmp_path / "y"
    foreign.write_bytes(b"PK\x03\x04 not an idx file")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(foreign)
