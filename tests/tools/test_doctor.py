"""Tests of cnncourse.tools.doctor.doctor_report: versions, the data root and which data sets are there."""

from __future__ import annotations

import gzip
import platform
import shutil
import struct
from pathlib import Path

import pytest
import torch
import torchvision

from cnncourse.tools.doctor import doctor_lines, doctor_report
from cnncourse.tools.invocation import command


def write_idx(path: Path, array: bytes, dims: tuple[int, ...]) -> None:
    """A uint8 IDX file (MNIST's format), gzipped like the downloads."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = bytes([0, 0, 0x08, len(dims)]) + struct.pack(f">{len(dims)}I", *dims)
    path.write_bytes(gzip.compress(header + array))


def dataset_line(report: str, name: str) -> str:
    lines = [line for line in report.splitlines() if line.split()[:1] == [name]]
    assert len(lines) == 1, f"expected one line for {name} in the report, got {lines}:\n{report}"
    return lines[0]


def test_report_names_versions_and_root(tmp_path: Path) -> None:
    report = doctor_report(tmp_path)
    for expected in (platform.python_version(), torch.__version__, torchvision.__version__, str(tmp_path)):
        assert expected in report, f"{expected!r} missing from the report:\n{report}"
    assert "exists, readable, writable" in report, report
    assert "CUDA" in report and "MPS" in report and "budget" in report, report


def test_budget_and_default_root_come_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CNNCOURSE_DATA", str(tmp_path / "shared"))
    monkeypatch.setenv("CNNCOURSE_BUDGET", "smoke")
    report = doctor_report()
    assert f"{tmp_path / 'shared'} (from $CNNCOURSE_DATA)" in report, report
    assert "does not exist (it can be created)" in report, report
    assert "budget      smoke" in report, report
    monkeypatch.setenv("CNNCOURSE_BUDGET", "fast")
    assert "budget      invalid" in doctor_report(tmp_path), "a bad CNNCOURSE_BUDGET must be reported, not raised"


def test_dataset_written_in_tmp_shows_as_present(tmp_path: Path) -> None:
    raw = tmp_path / "FashionMNIST" / "raw"
    for prefix in ("train", "t10k"):
        write_idx(raw / f"{prefix}-images-idx3-ubyte.gz", bytes(2 * 28 * 28), (2, 28, 28))
        write_idx(raw / f"{prefix}-labels-idx1-ubyte.gz", bytes([0, 1]), (2,))
    (raw / "t10k-labels-idx1-ubyte.gz").unlink()
    report = doctor_report(tmp_path)
    assert dataset_line(report, "fashion_mnist").split()[1:] == ["train:", "present", "in", f"{raw},", "test:", "missing"], report
    assert dataset_line(report, "cifar10").split()[1:] == ["train:", "missing,", "test:", "missing"], report
    assert "cnncourse data fetch mnist fashion_mnist cifar10" in report, report


def test_real_mnist_test_files_show_as_present(tmp_path: Path, shared_mnist: Path) -> None:
    target = tmp_path / "MNIST" / "raw"
    shutil.copytree(shared_mnist, target)
    report = doctor_report(tmp_path)
    assert dataset_line(report, "mnist").split()[1:] == ["train:", "missing,", "test:", "present", "in", str(target)], report


def test_system_data_folders_are_listed_with_where_each_data_set_was_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    own, hub, debian = tmp_path / "own", tmp_path / "hub-mount", tmp_path / "usr-share-datasets"
    own.mkdir()
    for prefix in ("train", "t10k"):
        write_idx(hub / "mnist" / f"{prefix}-images-idx3-ubyte.gz", bytes(28 * 28), (1, 28, 28))
        write_idx(hub / "mnist" / f"{prefix}-labels-idx1-ubyte.gz", bytes([3]), (1,))
        write_idx(debian / "fashion-mnist" / f"{prefix}-images-idx3-ubyte.gz", bytes(28 * 28), (1, 28, 28))
        write_idx(debian / "fashion-mnist" / f"{prefix}-labels-idx1-ubyte.gz", bytes([3]), (1,))
    monkeypatch.setenv("CNNCOURSE_DATA", str(own))
    monkeypatch.setenv("CNNCOURSE_SYSTEM_DATA", f"{hub}:{debian}:{tmp_path / 'absent'}")
    report = doctor_report()
    assert f"{hub} (present), {debian} (present), {tmp_path / 'absent'} (absent) ($CNNCOURSE_SYSTEM_DATA)" in report, report
    assert dataset_line(report, "mnist").split()[1:] == ["train:", "present", "in", f"{hub / 'mnist'},", "test:", "present", "in", str(hub / "mnist")], report
    assert f"present in {debian / 'fashion-mnist'}" in dataset_line(report, "fashion_mnist"), report
    assert f"cnncourse data fetch cifar10 oxford_pets --root {own}" in report, report
    monkeypatch.delenv("CNNCOURSE_SYSTEM_DATA")
    assert "(the default; set $CNNCOURSE_SYSTEM_DATA to change)" in doctor_report(), "the default system folder must be said"
    assert "system data" not in doctor_report(own), "with a root given, only that root is searched, as load does"


def test_missing_or_bad_root_is_reported_not_raised(tmp_path: Path) -> None:
    report = doctor_report(tmp_path / "nowhere")
    assert "does not exist" in report and "datasets" not in report.splitlines(), report
    afile = tmp_path / "afile"
    afile.write_text("not a folder")
    assert "is a file, not a folder" in doctor_report(afile)


def test_weights_are_reported_where_they_are_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "torch-home" / "hub"))
    report = doctor_report(tmp_path)
    assert dataset_line(report, "resnet18").split()[1:] == ["missing"], report
    assert f"To fetch the missing weights: {command('data', 'fetch', 'resnet18', '--root', str(tmp_path))}" in report, report
    assert dataset_line(report, "efficientnet_lite0").split()[1] == "present", "Lite0's weights ship with a package"
    weights = tmp_path / "torch-home" / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
    weights.parent.mkdir(parents=True)
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), weights)
    report = doctor_report(tmp_path)
    assert dataset_line(report, "resnet18").split()[1:] == ["present", f"({weights})"], report
    assert "missing weights" not in report, report


def test_an_empty_folder_left_by_a_failed_fetch_is_named(tmp_path: Path) -> None:
    (tmp_path / "MNIST" / "raw").mkdir(parents=True)
    line = dataset_line(doctor_report(tmp_path), "mnist")
    assert f"{tmp_path / 'MNIST' / 'raw'} exists but is empty" in line, line
    assert "exists but is empty" not in dataset_line(doctor_report(tmp_path), "cifar10"), "only folders that exist"


def test_the_report_comes_line_by_line_starting_before_torch_is_asked(tmp_path: Path) -> None:
    lines = doctor_lines(tmp_path)
    assert next(lines) == "cnncourse doctor"
    assert next(lines).startswith("cnncourse   "), "the first facts need no torch and come first"
    assert list(lines)[-1].startswith("To fetch the missing weights")
