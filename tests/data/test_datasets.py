"""Datasets: files in the exact official formats (IDX for MNIST, the pickled batches of
cifar-10-python.tar.gz), checksums, the search order, downloads, and the real Fashion-MNIST."""

import dataclasses
import functools
import gzip
import http.server
import io
import pickle
import tarfile
import threading

import numpy as np
import pytest

from cnnlab.data import datasets
from cnnlab.data.download import DownloadError, md5_of
from cnnlab.data.idx import write_idx

RNG = np.random.default_rng(0)


def _mnist_like(folder, train=40, test=20):
    """A small MNIST in the official layout, and the spec whose checksums describe it."""
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte.gz": RNG.integers(0, 256, (train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte.gz": np.arange(train, dtype=np.uint8) % 10,
        "t10k-images-idx3-ubyte.gz": RNG.integers(0, 256, (test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte.gz": np.arange(test, dtype=np.uint8) % 10,
    }
    files = []
    for name, array in arrays.items():
        write_idx(folder / name, array)
        content = gzip.decompress((folder / name).read_bytes())
        files.append(datasets.DataFile(name, md5_of(folder / name), md5_of(content)))
    spec = dataclasses.replace(datasets.MNIST, files=tuple(files),
                               sizes={"train": train, "test": test})
    return spec, arrays


def _cifar_like(folder, per_batch=6):
    """cifar-10-python.tar.gz as published: Python-2-style pickles of dicts with bytes keys."""
    folder.mkdir(parents=True, exist_ok=True)
    archive = folder / "cifar-10-python.tar.gz"
    batches = {}
    with tarfile.open(archive, "w:gz") as tar:
        for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
            batch = {b"batch_label": name.encode(),
                     b"labels": [int(v) for v in RNG.integers(0, 10, per_batch)],
                     b"data": RNG.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
                     b"filenames": [b"x.png"] * per_batch}
            batches[name] = batch
            raw = pickle.dumps(batch, protocol=2)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    spec = dataclasses.replace(datasets.CIFAR10, sizes={"train": 5 * per_batch,
                                                        "test": per_batch},
                               files=(datasets.DataFile(archive.name, md5_of(archive)),))
    return spec, batches


@pytest.fixture
def no_home(tmp_path, monkeypatch):
    """An empty user cache, no CNNLAB_DATA and no system copy: only what a test provides."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CNNLAB_DATA", raising=False)
    monkeypatch.setattr(datasets, "SYSTEM_DATASETS", tmp_path / "system")


def test_mnist_in_the_official_format_loads(tmp_path, no_home):
    spec, arrays = _mnist_like(tmp_path / "mnist")
    splits = datasets.load(spec, tmp_path)
    images, labels = splits["train"]
    assert images.shape == (40, 1, 28, 28) and images.dtype == np.uint8
    np.testing.assert_array_equal(images[:, 0], arrays["train-images-idx3-ubyte.gz"])
    np.testing.assert_array_equal(labels, arrays["train-labels-idx1-ubyte.gz"])
    assert labels.dtype == np.int64 and splits["test"][0].shape == (20, 1, 28, 28)


def test_uncompressed_or_recompressed_copies_pass_the_content_checksum(tmp_path, no_home):
    spec, _ = _mnist_like(tmp_path / "mnist")
    for file in spec.files:  # recompress, as Debian's package does: other .gz bytes
        path = tmp_path / "mnist" / file.name
        path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes()), compresslevel=1))
        assert md5_of(path) != file.md5
    assert datasets.load(spec, tmp_path)["train"][0].shape == (40, 1, 28, 28)


def test_a_corrupt_file_names_itself_and_the_checksum_expected(tmp_path, no_home):
    spec, arrays = _mnist_like(tmp_path / "mnist")
    images = arrays["t10k-images-idx3-ubyte.gz"].copy()
    images[3, 4, 5] ^= 1  # one flipped pixel in a well-formed file
    write_idx(tmp_path / "mnist" / "t10k-images-idx3-ubyte.gz", images)
    expected = spec.files[2].content_md5
    with pytest.raises(ValueError, match=rf"t10k-images-idx3-ubyte\.gz is not the published "
                                         rf"file: its decompressed md5 is \w+, expected "
                                         rf"{expected}"):
        datasets.load(spec, tmp_path)


def test_a_truncated_file_is_refused(tmp_path, no_home):
    spec, _ = _mnist_like(tmp_path / "mnist")
    path = tmp_path / "mnist" / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-50])
    with pytest.raises(ValueError, match=rf"train-images-idx3-ubyte\.gz is truncated or "
                                         rf"corrupt .*{spec.files[0].content_md5}"):
        datasets.load(spec, tmp_path)


def test_search_order_data_dir_then_cnnlab_data_then_cache(tmp_path, monkeypatch, no_home):
    spec, _ = _mnist_like(tmp_path / "explicit" / "mnist")
    _mnist_like(tmp_path / "env")
    monkeypatch.setenv("CNNLAB_DATA", str(tmp_path / "env"))
    assert datasets.locate(spec, tmp_path / "explicit") == tmp_path / "explicit" / "mnist"
    assert datasets.locate(spec) == tmp_path / "env"


def test_cifar10_python_batches_load(tmp_path, no_home):
    spec, batches = _cifar_like(tmp_path / "cifar10")
    splits = datasets.load(spec, tmp_path)
    images, labels = splits["train"]
    assert images.shape == (30, 3, 32, 32)
    first = batches["data_batch_1"]
    np.testing.assert_array_equal(images[:6].reshape(6, -1), first[b"data"])  # R, G, B planes
    np.testing.assert_array_equal(labels[:6], first[b"labels"])
    np.testing.assert_array_equal(splits["test"][1], batches["test_batch"][b"labels"])


class Exploit:
    def __reduce__(self):
        import os

        return os.system, ("echo pwned",)


def test_a_doctored_cifar_archive_is_refused_not_executed(tmp_path, no_home):
    archive = tmp_path / "cifar10" / "cifar-10-python.tar.gz"
    archive.parent.mkdir()
    with tarfile.open(archive, "w:gz") as tar:
        for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
            raw = pickle.dumps({b"data": Exploit(), b"labels": []}, protocol=2)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    spec = dataclasses.replace(datasets.CIFAR10,
                               files=(datasets.DataFile(archive.name, md5_of(archive)),))
    with pytest.raises(ValueError, match=r"refusing to load posix\.system"):
        datasets.load(spec, tmp_path)


@pytest.fixture
def file_server(tmp_path):
    folder = tmp_path / "served"
    folder.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


def test_missing_files_are_downloaded_checked_and_cached(tmp_path, no_home, file_server):
    served, url = file_server
    spec, _ = _mnist_like(served)
    spec = dataclasses.replace(spec, mirrors=("http://127.0.0.1:9/", url))  # first one is down
    splits = datasets.load(spec)
    assert splits["train"][0].shape == (40, 1, 28, 28)
    cached = datasets.cache_dir(spec)
    assert sorted(p.name for p in cached.iterdir()) == sorted(f.name for f in spec.files)


def test_a_download_with_the_wrong_checksum_is_not_kept(tmp_path, no_home, file_server):
    served, url = file_server
    spec, _ = _mnist_like(served)
    wrong = dataclasses.replace(spec.files[0], md5="0" * 32)
    spec = dataclasses.replace(spec, mirrors=(url,), files=(wrong, *spec.files[1:]))
    with pytest.raises(DownloadError, match="expected 00000000000000000000000000000000"):
        datasets.load(spec)
    assert not any(datasets.cache_dir(spec).iterdir())  # no partial or wrong file left


def test_without_network_the_error_says_how_to_get_the_files(tmp_path, no_home):
    spec = dataclasses.replace(datasets.FASHION_MNIST, mirrors=("http://127.0.0.1:9/",))
    with pytest.raises(DownloadError, match=r"(?s)could not download train-images.*Without "
                                            r"network, fetch .* apt-get install "
                                            r"dataset-fashion-mnist"):
        datasets.load(spec, tmp_path / "nowhere")


def test_real_fashion_mnist_when_present():
    try:
        splits = datasets.load(datasets.FASHION_MNIST, allow_download=False)
    except FileNotFoundError:
        pytest.skip("Fashion-MNIST is not installed (make test installs it)")
    images, labels = splits["test"]
    assert images.shape == (10_000, 1, 28, 28) and images.dtype == np.uint8
    assert np.bincount(labels).tolist() == [1000] * 10  # the test set is balanced
    train = splits["train"][0] / 255
    assert abs(train.mean() - datasets.FASHION_MNIST.mean[0]) < 1e-3
    assert abs(train.std() - datasets.FASHION_MNIST.std[0]) < 1e-3


def test_the_command_line_offers_exactly_the_known_datasets():
    from cnnlab.cli import options
    from cnnlab.data import names

    assert tuple(datasets.DATASETS) == names.DATASETS and options.DATASETS is names.DATASETS
