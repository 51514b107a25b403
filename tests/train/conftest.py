"""Training tests run on the real Fashion-MNIST (make test installs it)."""

import pytest


@pytest.fixture(autouse=True, scope="package")
def _real_data(fashion_mnist):
    pass
