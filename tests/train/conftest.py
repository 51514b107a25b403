"""Training tests run on the real Fashion-MNIST (make test installs it)."""

import pytest

from cnnlab.data import datasets


@pytest.fixture(autouse=True, scope="package")
def _real_data():
    try:
        datasets.locate(datasets.FASHION_MNIST, allow_download=False)
    except FileNotFoundError:
        pytest.skip("Fashion-MNIST is not installed (make test installs it)")
