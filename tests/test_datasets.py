"""cnncourse.datasets: the registry's names and splits, and where each data set may lie.
"""

from __future__ import annotations

import pytest

from cnncourse.data import load

pytestmark = pytest.mark.usefixtures("offline")


@pytest.mark.parametrize("name, suggestion", [("fashion-mnist", "fashion_mnist"), ("cifar-10", "cifar10"), ("mnsit", "mnist")])
def test_unknown_name_suggests_the_closest(name, suggestion):
    with pytest.raises(ValueError) as info:
        load(name, download=False)
    message = str(info.value)
    assert f"Did you mean {suggestion!r}" in message and "cifar10" in message and "fashion_mnist" in message, message


def test_bad_split_and_download_arguments():
    with pytest.raises(ValueError, match="'train' or 'test'"):
        load("mnist", "validation", download=False)
    with pytest.raises(TypeError, match="download"):
        load("mnist", "train", download="yes")
