"""The datasets: Fashion-MNIST, MNIST (IDX files) and CIFAR-10 (python batches).

Each is found in the first of: an explicit data_dir (or its <name>/ folder), $CNNLAB_DATA (or
its <name>/ folder), the user cache ~/.cache/cnnlab/<name>, and Debian's
/usr/share/datasets/<name>. When none has the files they are downloaded from the official
location into the cache (or data_dir), checksum-verified and renamed into place atomically.

Every file is checked before use. IDX files are checked by the md5 of their decompressed
content, which holds whether a copy is the official .gz, a recompressed one (Debian's) or
unpacked; CIFAR-10 by the md5 of the official archive.
"""

from __future__ import annotations

import gzip
import os
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from cnnlab.data import cifar
from cnnlab.data.download import download, md5_of
from cnnlab.data.idx import parse_idx


@dataclass(frozen=True)
class DataFile:
    name: str  # as published
    md5: str  # of the published file: checks a download
    content_md5: str | None = None  # of the decompressed bytes: checks any local copy


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    classes: tuple[str, ...]
    shape: tuple[int, int, int]  # C, H, W
    mean: tuple[float, ...]  # per channel, of the training pixels scaled to [0, 1]
    std: tuple[float, ...]
    sizes: dict[str, int]  # images per split, as published
    files: tuple[DataFile, ...]
    mirrors: tuple[str, ...]  # base URLs, tried in order
    split_files: dict[str, tuple[str, ...]]  # the files each split reads: images, labels
    debian_package: str | None = None
    notes: tuple[str, ...] = field(default=())
    # Some of the classes only (`only`): their numbers in the full dataset, in the order the
    # view numbers them 0, 1, ...; None for every class
    subset: tuple[int, ...] | None = None

    def only(self, classes) -> DatasetSpec:
        """The dataset seen through some of its classes (numbers of the full dataset), which
        it numbers 0, 1, ... in the order given: every split holds their images alone.
        None gives the whole dataset."""
        if classes is None:
            return self
        if self.subset is not None:
            raise ValueError(f"{self.name} is already a view on classes {list(self.subset)}")
        if isinstance(classes, str) or not all(
                isinstance(c, int) and not isinstance(c, bool) for c in classes):
            raise ValueError(f"classes must be a list of class numbers, got {classes!r}")
        numbers = tuple(classes)
        out_of_range = [c for c in numbers if not 0 <= c < len(self.classes)]
        if out_of_range or len(set(numbers)) != len(numbers) or len(numbers) < 2:
            listed = ", ".join(f"{i} {name}" for i, name in enumerate(self.classes))
            raise ValueError(f"classes {list(numbers)}: give two or more different class "
                             f"numbers of {self.name} ({listed})")
        return replace(self, classes=tuple(self.classes[c] for c in numbers), subset=numbers)


FASHION_MNIST = DatasetSpec(
    name="fashion-mnist",
    classes=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
             "Sneaker", "Bag", "Ankle boot"),
    shape=(1, 28, 28), mean=(0.2860,), std=(0.3530,),
    sizes={"train": 60_000, "test": 10_000},
    files=(
        DataFile("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                 "f4a8712d7a061bf5bd6d2ca38dc4d50a"),
        DataFile("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe",
                 "9018921c3c673c538a1fc5bad174d6f9"),
        DataFile("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79",
                 "8181f5470baa50b63fa0f6fddb340f0a"),
        DataFile("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310",
                 "15d484375f8d13e6eb1aabb0c3f46965"),
    ),
    mirrors=("https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/"
             "fashion/", "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"),
    split_files={"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
                 "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")},
    debian_package="dataset-fashion-mnist",
)

MNIST = DatasetSpec(
    name="mnist",
    classes=tuple(str(digit) for digit in range(10)),
    shape=(1, 28, 28), mean=(0.1307,), std=(0.3081,),
    sizes={"train": 60_000, "test": 10_000},
    files=(
        DataFile("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873",
                 "6bbc9ace898e44ae57da46a324031adb"),
        DataFile("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432",
                 "a25bea736e30d166cdddb491f175f624"),
        DataFile("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3",
                 "2646ac647ad5339dbf082846283269ea"),
        DataFile("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c",
                 "27ae3e4e09519cfbb04c329615203637"),
    ),
    mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/",
             "https://storage.googleapis.com/cvdf-datasets/mnist/"),
    split_files={"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
                 "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")},
)

CIFAR10 = DatasetSpec(
    name="cifar10",
    classes=("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
             "truck"),
    shape=(3, 32, 32), mean=(0.4914, 0.4822, 0.4465), std=(0.2470, 0.2435, 0.2616),
    sizes={"train": 50_000, "test": 10_000},
    files=(DataFile(cifar.ARCHIVE, "c58f30108f718f92721af3b95e74349a"),),
    mirrors=("https://www.cs.toronto.edu/~kriz/",),
    split_files={"train": (cifar.ARCHIVE,), "test": (cifar.ARCHIVE,)},
)

DATASETS = {spec.name: spec for spec in (FASHION_MNIST, MNIST, CIFAR10)}
SYSTEM_DATASETS = Path("/usr/share/datasets")  # where Debian's dataset-* packages install


def get_spec(name: str) -> DatasetSpec:
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; expected one of {', '.join(DATASETS)}")
    return DATASETS[name]


def candidate_dirs(spec: DatasetSpec, data_dir: str | Path | None = None) -> list[Path]:
    places = []
    if data_dir is not None:
        places += [Path(data_dir), Path(data_dir) / spec.name]
    if os.environ.get("CNNLAB_DATA"):
        root = Path(os.environ["CNNLAB_DATA"])
        places += [root, root / spec.name]
    places += [cache_dir(spec), SYSTEM_DATASETS / spec.name]
    return places


def cache_dir(spec: DatasetSpec) -> Path:
    return Path.home() / ".cache" / "cnnlab" / spec.name


def verified_content(path: Path, expected: DataFile) -> bytes | None:
    """Check `path` against its published checksum and return its decompressed bytes (IDX
    files; None for archives, which are read from disk). A mismatch raises ValueError naming
    the file and the checksum expected: truncated, corrupt, or another version."""
    if expected.content_md5 is None:
        actual, wanted, what, content = md5_of(path), expected.md5, "md5", None
    else:
        try:
            content = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else \
                path.read_bytes()
        except (OSError, EOFError, zlib.error) as error:
            raise ValueError(f"{path} is truncated or corrupt ({error}); expected the file "
                             f"whose decompressed md5 is {expected.content_md5}") from None
        actual, wanted, what = md5_of(content), expected.content_md5, "decompressed md5"
    if actual != wanted:
        raise ValueError(f"{path} is not the published file: its {what} is {actual}, expected "
                         f"{wanted}; delete it to download it again")
    return content


def _how_to_get(spec: DatasetSpec, folder: Path) -> str:
    urls = ", ".join(spec.mirrors[0] + f.name for f in spec.files)
    debian = (f" On Debian or Ubuntu: apt-get install {spec.debian_package}."
              if spec.debian_package else "")
    return (f"Without network, fetch {urls} on another machine and put them in {folder} "
            f"(or pass --data-dir, or set CNNLAB_DATA).{debian}")


def locate(spec: DatasetSpec, data_dir: str | Path | None = None,
           allow_download: bool = True) -> Path:
    """The first folder holding every file of `spec`; downloaded (checksum-verified) into the
    cache, or into data_dir when given, when no folder has them."""
    names = [f.name for f in spec.files]
    for place in candidate_dirs(spec, data_dir):
        if all((place / name).is_file() for name in names):
            return place
    target = (Path(data_dir) / spec.name) if data_dir is not None else cache_dir(spec)
    if not allow_download:
        raise FileNotFoundError(f"{spec.name} not found (looked in "
                                f"{', '.join(map(str, candidate_dirs(spec, data_dir)))}). "
                                + _how_to_get(spec, target))
    for expected in spec.files:
        if not (target / expected.name).is_file():
            download(expected.name, [mirror + expected.name for mirror in spec.mirrors],
                     target / expected.name, expected.md5, _how_to_get(spec, target))
    return target


Split = tuple[np.ndarray, np.ndarray]  # uint8 images (N, C, H, W), int64 labels (N,)


def load(spec: DatasetSpec, data_dir: str | Path | None = None,
         allow_download: bool = True) -> dict[str, Split]:
    """Every official split of `spec`, each file verified before it is used."""
    folder = locate(spec, data_dir, allow_download)
    contents = {f.name: verified_content(folder / f.name, f) for f in spec.files}
    splits = {}
    for split, names in spec.split_files.items():
        if contents[names[0]] is None:  # CIFAR-10: batches inside the verified archive
            images, labels = cifar.read_split(folder / names[0], split)
        else:
            images, labels = _idx_split(spec, folder, names, contents)
        where = folder / names[0]
        if len(images) != spec.sizes[split]:
            raise ValueError(f"{where}: {len(images)} {split} images, expected "
                             f"{spec.sizes[split]}")
        every = len(spec.classes) if spec.subset is None else len(DATASETS[spec.name].classes)
        if labels.min() < 0 or labels.max() >= every:
            raise ValueError(f"{where}: labels outside 0..{every - 1}")
        splits[split] = _of_classes(images, labels, spec.subset)
    return splits


def _of_classes(images: np.ndarray, labels: np.ndarray, subset: tuple[int, ...] | None
                ) -> Split:
    """The images of the classes in `subset` alone, their labels renumbered 0, 1, ... in its
    order (all of them when None)."""
    if subset is None:
        return images, labels
    renumber = np.full(int(labels.max()) + 1, -1, np.int64)
    for new, old in enumerate(subset):
        if old < len(renumber):
            renumber[old] = new
    kept = renumber[labels] >= 0
    return images[kept], renumber[labels[kept]]


def _idx_split(spec: DatasetSpec, folder: Path, names, contents) -> Split:
    images_file, labels_file = (folder / name for name in names)
    images = parse_idx(contents[names[0]], images_file)
    labels = parse_idx(contents[names[1]], labels_file)
    if images.ndim != 3 or images.shape[1:] != spec.shape[1:] or images.dtype != np.uint8:
        raise ValueError(f"{images_file}: expected uint8 images of shape (N, "
                         f"{spec.shape[1]}, {spec.shape[2]}), got {images.dtype} {images.shape}")
    if labels.shape != (len(images),):
        raise ValueError(f"{labels_file}: {labels.shape[0]} labels for {len(images)} images")
    # reshape, not images[:, None]: a new axis gets stride 0, which fancy indexing turns into
    # stride 1, and torch reads (784, 1, 28, 1) as channels-last, so convolutions would
    # return channels-last maps that a network's `.view()` cannot flatten
    return images.reshape(len(images), 1, *images.shape[1:]), labels.astype(np.int64)
