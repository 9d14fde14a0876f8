"""Tests of the benchmark suite (``bench/``) and of the speed work in the library that it measures.

Nothing here measures or asserts a speed: the suite's benchmarks run end to end
on tiny sizes and must write their tables; the data files they write are read
back by torchvision (the oracle); and the reference loops agree with
``cnncourse.train``. The speed work in the library that the suite measures
(``fit``'s ``check_every``, ``TensorBatcher``'s one-gather augmentation) is
tested beside its modules, in tests/test_train.py and tests/test_batches.py.
"""

from __future__ import annotations

import shutil

import nbformat
import pytest
import torch
import torchvision
from torch.utils.data import DataLoader, TensorDataset

from bench import evaluation, files, loops
from bench.__main__ import main
from bench.clock import Side, side_by_side
from bench.models import lenet
from bench.notebooks import notebook_paths
from bench.notebooks import run as run_notebooks
from bench.settings import Settings
from cnncourse.batches import TensorBatcher
from cnncourse.data import load
from cnncourse.train import evaluate, fit

CPU = torch.device("cpu")
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


# --- the suite end to end ----------------------------------------------------------------------


@pytest.mark.slow
def test_every_benchmark_runs_end_to_end_and_writes_its_table(shared_mnist, tmp_path) -> None:
    threads = torch.get_num_threads()
    out = tmp_path / "out"
    status = main(["throughput", "limit", "data_path", "time_to_accuracy", "transfer", "grading", "--size", "tiny",
                   "--repeats", "1", "--threads", "1", "--digits", str(shared_mnist), "--out", str(out)])
    assert status == 0, f"expected exit status 0 (no benchmark failed), got {status}; see the captured stderr"
    assert torch.get_num_threads() == threads, f"main should restore {threads} threads, left {torch.get_num_threads()}"
    text = (out / "results.md").read_text()
    for heading in ("## 1. Training-loop throughput", "## 2. Distance to the limit", "## 3. Data path alone",
                    "## 4. Time to 30% validation accuracy", "## 5. Transfer learning",
                    "## 6. Grading: submissions per minute", "## Summary"):
        assert heading in text, f"expected the section {heading!r} in results.md, got:\n{text[:2000]}"
    for line in ("- date: ", "- machine: ", "- load average", "- versions: Python", f"torch {torch.__version__}",
                 "- settings: size tiny, 1 timed runs per side", "torch.set_num_threads(1)"):
        assert line in text, f"expected {line!r} in the header of results.md"
    for side in ("| cnncourse: fit + TensorBatcher |", "| official example, num_workers=2 |",
                 "| d2l train_ch6, num_workers=4 |", "| fit over the same prepared batches |",
                 "| CIFAR-10 with augmentation | torchvision + DataLoader, num_workers=4 |",
                 "| common loop: frozen backbone every epoch |",
                 "| nbgrader autograde (sequential) |", "| cnncourse grade, 2 workers |"):
        assert side in text, f"expected a table row starting {side!r} in results.md"
    grading_row = next(line for line in text.splitlines() if line.startswith("| cnncourse grade, 2 workers |"))
    assert grading_row.endswith("| yes |"), f"cnncourse grade should give nbgrader's scores, the row says: {grading_row}"
    assert "goal ≥ 2×" in text and "goal ≥ 0.9×" in text, "the summary should state the goals of benchmarks 1 and 2"
    assert (out / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", "results.png should be a PNG image"


def test_the_command_line_refuses_bad_arguments(tmp_path, capsys) -> None:
    with pytest.raises(SystemExit):
        main(["--size", "reduced", "--repeats", "2", "--out", str(tmp_path)])
    assert "at least 3 runs" in capsys.readouterr().err, "fewer than 3 repeats should be refused, with the reason"
    with pytest.raises(SystemExit):
        main(["speed", "--size", "tiny", "--out", str(tmp_path)])
    assert "unknown benchmark(s) speed" in capsys.readouterr().err, "an unknown benchmark should be named"
    assert not (tmp_path / "results.md").exists(), "nothing should be written after an argument error"


def test_settings_are_validated(tmp_path) -> None:
    with pytest.raises(ValueError, match="size must be one of full, reduced, tiny"):
        Settings("huge", 3, 1, tmp_path, tmp_path)
    with pytest.raises(ValueError, match="repeats must be a positive integer"):
        Settings("tiny", 0, 1, tmp_path, tmp_path)
    with pytest.raises(ValueError, match="threads must be a positive integer"):
        Settings("tiny", 1, True, tmp_path, tmp_path)


def test_missing_digits_are_named(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="t10k-images-idx3-ubyte.gz.*--digits"):
        files.real_digits(tmp_path)


# --- notebooks ---------------------------------------------------------------------------------


def _notebook(path, *sources: str):
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, path)
    return path


@pytest.mark.slow
def test_notebook_benchmark_runs_each_in_a_copy_in_the_smoke_budget(tmp_path) -> None:
    good = _notebook(tmp_path / "nb" / "good" / "good.ipynb",
                     "import os\nassert os.environ['CNNCOURSE_BUDGET'] == 'smoke', os.environ.get('CNNCOURSE_BUDGET')",
                     "open('written.txt', 'w').write('a file written by the notebook')")
    bad = _notebook(tmp_path / "nb" / "bad" / "bad.ipynb", "raise ValueError('broken on purpose')")
    before = good.read_bytes()
    table = run_notebooks(Settings("tiny", 1, 1, tmp_path, tmp_path / "work"), [good, bad])
    rows = {row[0]: row for row in table.rows}
    assert set(rows) == {"good.ipynb", "bad.ipynb", "**all notebooks**"}, f"unexpected rows {list(rows)}"
    assert rows["good.ipynb"][1].endswith(" s") and "failed" not in rows["good.ipynb"][1], (
        f"the good notebook should run in the smoke budget, got {rows['good.ipynb'][1]!r}")
    assert "failed after" in rows["bad.ipynb"][1] and "ValueError: broken on purpose" in rows["bad.ipynb"][1], (
        f"the failing notebook should be reported with its error, got {rows['bad.ipynb'][1]!r}")
    assert rows["good.ipynb"][2] == "not measured (no GPU here)", f"got {rows['good.ipynb'][2]!r}"
    assert "(1 failed)" in rows["**all notebooks**"][1], f"the total should count the failure: {rows['**all notebooks**']}"
    assert not (good.parent / "written.txt").exists(), "the notebook should run in a copy of its folder, not in place"
    assert good.read_bytes() == before, "the notebook file must not be modified"


def test_every_assignment_and_lecture_is_listed(repo) -> None:
    names = [p.relative_to(repo).as_posix() for p in notebook_paths(repo)]
    for expected in ("source/02_lenet/lenet.ipynb", "course/02_lenet.ipynb"):
        assert expected in names, f"expected {expected} among the notebooks to time, got {names}"
    assert not any(name.startswith("release/") for name in names), f"student copies should not be timed: {names}"


# --- data files, read back by torchvision ------------------------------------------------------


def test_real_digits_and_mnist_files_read_back_by_torchvision(shared_mnist, tmp_path) -> None:
    images, labels = files.real_digits(shared_mnist)
    assert images.shape == (10000, 28, 28) and images.dtype == torch.uint8, f"got {images.shape} {images.dtype}"
    counts = torch.bincount(labels, minlength=10).tolist()
    assert counts == MNIST_TEST_COUNTS, f"expected the official test-set label counts {MNIST_TEST_COUNTS}, got {counts}"
    train = files.repeat_to(images[:300], labels[:300], 700)
    test = images[-50:], labels[-50:]
    assert torch.equal(train[0][300:600], images[:300]) and torch.equal(train[1][600:], labels[:100]), (
        "repeat_to should repeat the examples end to end")
    files.write_mnist(tmp_path, train, test)
    for split, (x, y) in (("train", train), ("test", test)):
        theirs = torchvision.datasets.MNIST(str(tmp_path), train=split == "train", download=False)
        assert torch.equal(theirs.data, x) and torch.equal(theirs.targets, y), f"torchvision reads back another {split} set"
        ours = load("mnist", split, root=tmp_path, download=False)
        assert torch.equal(ours.images[:, 0], x) and torch.equal(ours.targets, y), f"cnncourse reads another {split} set"


def test_cifar_files_read_back_by_torchvision_with_their_own_checksums(tmp_path) -> None:
    train, test = files.generated_images(23, seed=3), files.generated_images(7, seed=4)
    files.write_cifar10(tmp_path, train, test)
    with pytest.raises(RuntimeError, match="corrupted"):
        torchvision.datasets.CIFAR10(str(tmp_path), train=True)  # the official checksums refuse them
    generated = files.cifar10_class(tmp_path)
    assert issubclass(generated, torchvision.datasets.CIFAR10)
    for is_train, (x, y) in ((True, train), (False, test)):
        theirs = generated(str(tmp_path), train=is_train)
        got = torch.from_numpy(theirs.data).permute(0, 3, 1, 2)
        assert torch.equal(got, x), f"torchvision reads back other images (train={is_train})"
        assert theirs.targets == y.tolist(), f"torchvision reads back other labels (train={is_train})"
        assert theirs.classes == files.CIFAR10_CLASSES, f"got classes {theirs.classes}"
    ours = load("cifar10", "train", root=tmp_path, download=False)
    assert torch.equal(ours.images, train[0]) and torch.equal(ours.targets, train[1]), "cnncourse reads other data"


def test_idx_files_reject_what_they_cannot_hold(tmp_path) -> None:
    with pytest.raises(ValueError, match="uint8 arrays of 1 or 3 dimensions"):
        files.write_idx(tmp_path / "x", torch.zeros(2, 2))
    (tmp_path / "junk").write_bytes(b"not an idx file")
    with pytest.raises(ValueError, match="not a uint8 IDX file"):
        files.read_idx(tmp_path / "junk")
    with pytest.raises(ValueError, match="at least 5 images"):
        files.write_cifar10(tmp_path, files.generated_images(4), files.generated_images(1))


# --- timing and the reference loops ------------------------------------------------------------


def test_side_by_side_interleaves_the_sides_and_keeps_every_run() -> None:
    calls: list[str] = []

    def side(name: str):
        return lambda: calls.append(name) or {"call": len(calls)}

    timings = side_by_side([Side("a", side("a")), Side("b", side("b"))], repeats=3)
    assert calls == ["a", "b", "b", "a", "a", "b"], f"expected the order a b, b a, a b, got {calls}"
    assert [e["call"] for e in timings["a"].extras] == [1, 4, 5], f"got {timings['a'].extras}"
    assert timings["a"].extra("call") == 4, f"expected the median of 1, 4, 5, got {timings['a'].extra('call')}"
    slept = side_by_side([Side("sleep", lambda: __import__("time").sleep(0.02))], repeats=1)["sleep"]
    assert slept.seconds[0] >= 0.02 and slept.extras == [{}], f"expected >= 0.02 s and no extras, got {slept}"
    with pytest.raises(ValueError, match="different names"):
        side_by_side([Side("a", dict), Side("a", dict)], repeats=1)


def test_lenet_is_lecture_two_s_network_and_leaves_the_random_state_alone() -> None:
    state = torch.random.get_rng_state()
    model = lenet(seed=3)
    assert torch.equal(torch.random.get_rng_state(), state), "lenet() should not move the global random state"
    assert sum(p.numel() for p in model.parameters()) == 61706, "LeNet-5 has 61,706 parameters"
    again = lenet(seed=3)
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), again.parameters())), "same seed, same weights"


def _digits_like(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, 28, 28, generator=generator), torch.randint(0, 10, (n,), generator=generator)


def test_reference_loops_agree_with_cnncourse(capsys) -> None:
    x, y = _digits_like(96, seed=1)
    test_loader = DataLoader(TensorDataset(x, y), batch_size=40)
    model = lenet(seed=1)
    accuracy = loops.example_test(model, CPU, test_loader)
    assert accuracy == pytest.approx(evaluate(model, test_loader)["top1"]), "example_test and evaluate disagree"
    assert "Test set: Average loss" in capsys.readouterr().out, "example_test should print as the example does"

    train_loader = DataLoader(TensorDataset(*_digits_like(128, seed=2)), batch_size=32, shuffle=True)
    started = __import__("time").perf_counter()
    result = loops.d2l_train_ch6(model, train_loader, test_loader, 2, torch.optim.SGD(model.parameters(), lr=0.1), CPU)
    outside = 2 * 128 / (__import__("time").perf_counter() - started)
    assert result["test_acc"] == pytest.approx(evaluate(model, test_loader)["top1"]), "train_ch6's test accuracy is off"
    assert result["book_examples_per_s"] >= outside, (
        f"the book's Timer leaves out loading and evaluation, so its figure ({result['book_examples_per_s']:.0f}/s) "
        f"cannot be below the outside clock's ({outside:.0f}/s)")


def test_fit_updates_the_weights_exactly_as_the_bare_loop() -> None:
    batches = [_digits_like(32, seed=s) for s in range(4)]
    bare, fitted = lenet(seed=5), lenet(seed=5)
    loops.bare_loop(bare, batches, epochs=2, optimizer=torch.optim.SGD(bare.parameters(), lr=0.05, momentum=0.9))
    fit(fitted, batches, epochs=2, optimizer=torch.optim.SGD(fitted.parameters(), lr=0.05, momentum=0.9),
        device=CPU, channels_last=False, progress=False)
    for (name, a), b in zip(bare.named_parameters(), fitted.parameters()):
        assert torch.allclose(a, b, atol=1e-6), f"{name} differs between the bare loop and fit by {(a - b).abs().max():.2g}"


def test_missing_digits_stop_the_suite_before_anything_runs_or_is_written(tmp_path, capsys) -> None:
    out = tmp_path / "out"
    status = main(["throughput", "--size", "tiny", "--repeats", "1", "--threads", "1",
                   "--digits", str(tmp_path / "nowhere"), "--out", str(out)])
    err = capsys.readouterr().err
    assert status == 2, f"a missing digits folder should give exit status 2, got {status}"
    assert not out.exists(), "nothing may be written (no results.md marked failed) when the digits are missing"
    assert "Traceback" not in err and "--digits DIR" in err and "t10k-images-idx3-ubyte.gz" in err, err


def test_the_digits_are_found_in_the_course_data_folder(shared_mnist, tmp_path, monkeypatch) -> None:
    raw = tmp_path / "data" / "MNIST" / "raw"  # where `cnncourse data fetch mnist` puts them
    raw.mkdir(parents=True)
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        shutil.copy2(shared_mnist / name, raw / name)
    monkeypatch.setenv("CNNCOURSE_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("CNNCOURSE_SYSTEM_DATA", str(tmp_path / "no-system-data"))
    assert files.find_digits() == raw
    assert files.find_digits(shared_mnist) == shared_mnist, "--digits wins"
    images, labels = files.real_digits(raw)
    assert images.shape == (10000, 28, 28) and torch.bincount(labels).tolist() == MNIST_TEST_COUNTS


# --- benchmark 4b: time to 90% on the real Fashion-MNIST ------------------------------------------


def _fashion_mnist_on_disk() -> bool:
    from cnncourse.datasets import dataset_spec
    from cnncourse.settings import data_roots

    spec = dataset_spec("fashion_mnist")
    return all(spec.search(data_roots(), split)[0] is not None for split in ("train", "test"))


def test_fashion_files_read_back_by_torchvision(tmp_path) -> None:
    x, y = files.generated_images(30, channels=1, side=28, seed=5)
    files.write_mnist(tmp_path, (x[:20, 0], y[:20]), (x[20:, 0], y[20:]), folder="FashionMNIST")
    theirs = torchvision.datasets.FashionMNIST(str(tmp_path), train=True, download=False)
    assert torch.equal(theirs.data, x[:20, 0]) and torch.equal(theirs.targets, y[:20]), "torchvision reads other data"
    train_set, test_set = loops.example_datasets(tmp_path, fashion=True)
    assert isinstance(train_set, torchvision.datasets.FashionMNIST) and len(test_set) == 10, (
        f"example_datasets(fashion=True) should give torchvision's FashionMNIST, got {type(train_set).__name__}")
    ours = load("fashion_mnist", "test", root=tmp_path, download=False)
    assert torch.equal(ours.images, x[20:]) and ours.classes[0] == "T-shirt/top", "cnncourse reads other data"


@pytest.mark.slow
@pytest.mark.skipif(not _fashion_mnist_on_disk(), reason="the real Fashion-MNIST is not on this machine "
                    "(Debian's dataset-fashion-mnist, which .ci/run installs)")
def test_fashion_time_to_accuracy_runs_both_sides_on_the_real_data(tmp_path) -> None:
    from bench.time_to_accuracy import COURSE, OFFICIAL, run_fashion

    table = run_fashion(Settings("tiny", 1, 1, tmp_path, tmp_path / "work"))
    assert table.key == "fashion_time_to_accuracy" and "real Fashion-MNIST" in table.title, table.title
    assert [row[0] for row in table.rows] == [COURSE, OFFICIAL], f"expected one row per side, got {table.rows}"
    for row in table.rows:
        assert 0.0 <= float(row[3]) <= 1.0, f"the final accuracy should be a fraction, got {row[3]!r} in {row}"
        assert row[4] in ("0/1", "1/1"), f"expected 'reached in' as k/1, got {row[4]!r}"
    assert "512 real Fashion-MNIST training images" in table.setup, table.setup
    assert table.ratios[0].goal == 2.0, "the issue's goal is at least 2× faster to the target"


def test_fashion_time_to_accuracy_says_not_measured_without_the_files(tmp_path, monkeypatch, smoke_budget) -> None:
    from bench.time_to_accuracy import run_fashion

    monkeypatch.setenv("CNNCOURSE_DATA", str(tmp_path / "empty"))
    monkeypatch.setenv("CNNCOURSE_SYSTEM_DATA", str(tmp_path / "empty-too"))
    table = run_fashion(Settings("tiny", 1, 1, tmp_path, tmp_path / "work"))
    assert table.rows == [] and table.ratios[0].value is None, f"nothing should be measured, got {table.rows}"
    assert "not measured" in table.notes[0] and "dataset-fashion-mnist" in table.notes[0], table.notes


# --- the one-shot GPU check ----------------------------------------------------------------------


def test_gpu_check_networks_match_their_references() -> None:
    from bench import gpu_models

    vgg = gpu_models.vgg16_cifar()
    reference = torchvision.models.vgg16_bn(weights=None)
    want = sum(p.numel() for p in reference.features.parameters()) + 512 * 10 + 10
    assert sum(p.numel() for p in vgg.parameters()) == want == 14_728_266, (
        f"VGG-16 (BN) with the 32×32 head should have torchvision's features and one 512 → 10 layer ({want:,} parameters)")
    assert sum(p.numel() for p in gpu_models.resnet20().parameters()) == 269_722, "ResNet-20 has 269,722 parameters"
    net = gpu_models.CompactInception()
    main_out, aux = net.train()(torch.zeros(2, 3, 32, 32))
    assert main_out.shape == aux.shape == (2, 10), f"training mode should give (main, aux) logits, got {main_out.shape}"
    assert net.eval()(torch.zeros(2, 3, 32, 32)).shape == (2, 10), "eval mode should give the main logits only"
    loss = gpu_models.googlenet_loss((main_out, aux), torch.tensor([1, 2]))
    import torch.nn.functional as F
    want = (F.cross_entropy(main_out, torch.tensor([1, 2]), label_smoothing=0.1)
            + 0.3 * F.cross_entropy(aux, torch.tensor([1, 2]), label_smoothing=0.1))
    assert torch.allclose(loss, want), f"googlenet_loss should be main + 0.3 × aux, got {loss.item()} for {want.item()}"
    resnet = gpu_models.resnet18_transfer(37)
    assert resnet.fc.out_features == 37 and sum(p.numel() for p in resnet.parameters()) == 11_689_512 - 513 * 1000 + 513 * 37


def test_gpu_check_projects_the_full_budget_from_the_epochs_it_timed() -> None:
    from bench.gpu import RECIPES, Row

    row = Row(RECIPES[0], "generated", 3, epoch_s=[5.0, 1.0, 3.0], steps_per_epoch=430)
    assert row.projected_s == pytest.approx(5.0 + 14 * 2.0), f"first + 14 × the median of the rest, got {row.projected_s}"
    transfer = Row(RECIPES[4], "generated", 2, epoch_s=[40.0, 20.0], steps_per_epoch=57)
    assert transfer.total_epochs == 11, "600 steps of 57 per epoch need 11 epochs"
    assert transfer.projected_s == pytest.approx(9 * (40.0 + 10 * 20.0)), "assignment 6 trains 9 networks"
    assert "over 10 min" in transfer.cells()[5] and "within 10 min" in row.cells()[5], (row.cells(), transfer.cells())


@pytest.mark.slow
def test_gpu_check_runs_every_recipe_at_the_tiny_size(tmp_path) -> None:
    from bench.gpu import RECIPES
    from bench.gpu import main as gpu_main

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        status = gpu_main(["--size", "tiny", "--out", str(tmp_path / "gpu.md")])
    finally:
        torch.set_num_threads(threads)
    assert status == 0, f"expected exit status 0, got {status}"
    text = (tmp_path / "gpu.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| assignment")]
    assert [r.split(" | ")[0][2:] for r in rows] == [r.name for r in RECIPES], f"one row per assignment, got {rows}"
    for line in rows:
        assert "not measured (no GPU)" in line and " min (" in line, f"a CPU row should say so and project a time: {line}"
    lenet_row = rows[0]
    if _fashion_mnist_on_disk():
        assert "real fashion_mnist" in lenet_row and "after 2 of 15 epochs" in lenet_row, lenet_row
    assert "generated" in rows[1] and "not measured (generated data)" in rows[1], rows[1]


def test_gpu_check_refuses_the_full_size_without_a_gpu(tmp_path, capsys) -> None:
    from bench.gpu import main as gpu_main

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present: the full size is allowed")
    with pytest.raises(SystemExit):
        gpu_main(["--out", str(tmp_path / "gpu.md")])
    assert "needs a CUDA device" in capsys.readouterr().err
    assert not (tmp_path / "gpu.md").exists(), "nothing should be written after an argument error"


# --- benchmark 8: the cost of grading a training assignment ------------------------------------------


def test_generated_cifar_images_are_coloured_by_class_and_read_back_by_torchvision(tmp_path) -> None:
    from bench.grading_cost import SPECS, TINY, coloured_images, hues, write_data

    images, labels = coloured_images(300, seed=4, chunk=128)
    means = images.float().mean(dim=(2, 3))  # N×3
    nearest = torch.cdist(means, hues()).argmin(dim=1)
    assert torch.equal(nearest, labels), "every image's mean colour should be the hue of its class"
    root = write_data(tmp_path / "data", SPECS[TINY], divide=4)
    theirs = files.cifar10_class(root)(str(root), train=True)
    assert len(theirs) == SPECS[TINY].train // 4 and theirs.data.shape[1:] == (32, 32, 3), theirs.data.shape
    assert (root / "cifar-10-batches-py" / "test_batch").stat().st_mode & 0o777 == 0o644, "others must read the data"


def test_evaluation_benchmark_times_three_sides_that_agree(tmp_path) -> None:
    table = evaluation.run(Settings("tiny", 1, 1, tmp_path, tmp_path))
    assert [row[0] for row in table.rows] == [evaluation.PLAIN, evaluation.SLICED, evaluation.DEFAULT], (
        f"expected the plain loop, evaluate without and with channels-last, got {[row[0] for row in table.rows]}")
    accuracies = {row[-1] for row in table.rows}
    assert len(accuracies) == 1, f"every side should measure the same top-1 on the same images, got {accuracies}"
    assert all(ratio.value > 0 for ratio in table.ratios), f"expected two positive ratios, got {table.ratios}"


def test_grading_cost_projects_re_training_from_the_reduced_size() -> None:
    from bench.grading_cost import Cost, Grading, table

    cost = Cost("05_resnet", 500, retrain=Grading("a", 300.0, 80, {"t": 10.0}),
                runs_reduced=Grading("b", 100.0, 80, {"t": 10.0}), runs_full=Grading("c", 400.0, 75, {"t": 0.0}),
                runs={"resnet20.pt": 580_000}, load=(1.0, 2.0), sandbox_mode="full")
    assert cost.training_reduced_s == 200.0 and cost.projected_retrain_s == 400.0 + 500 * 200.0
    text = table(cost).to_markdown()
    assert "| 100400 s (27.9 h) |" in text and "NOT met (400 s)" in text and "(0 on t)" in text, text
    assert table(cost).ratios[0].value == pytest.approx(100400 / 400)


@pytest.mark.slow
def test_grading_cost_runs_end_to_end_on_the_tiny_training_assignment(tmp_path) -> None:
    out = tmp_path / "out"
    status = main(["grading_cost", "--size", "tiny", "--repeats", "1", "--threads", "1", "--out", str(out)])
    assert status == 0, f"expected exit status 0, got {status}; see the captured stderr"
    text = (out / "results.md").read_text()
    assert "## 8. Grading cost: 00_tiny_training" in text, text[:2000]
    rows = [line for line in text.splitlines() if line.startswith(("| re-training", "| saved runs"))]
    assert len(rows) == 4, f"expected the three gradings and the projection, got {rows}"
    for line in rows[:3]:
        assert line.endswith("| 10 |"), f"every grading of the right answers should score 10 of 10: {line}"
    assert "Slowest cells of nbgrader's pass in (3)" in text and "test_accuracy " in text, (
        f"the table should name the slowest cells of the graded notebook, test_accuracy among them:\n{text}")


# --- parity: cnncourse grade against nbgrader autograde ----------------------------------------------


@pytest.mark.slow
def test_parity_grades_the_three_submissions_with_both_graders(tmp_path, monkeypatch) -> None:
    from bench.parity import main as parity_main

    monkeypatch.setenv("CNNCOURSE_BUDGET", "smoke")  # main sets it; this puts the old value back afterwards
    status = parity_main(["00_fixture", "--out", str(tmp_path / "parity.md")])
    text = (tmp_path / "parity.md").read_text()
    assert status == 0, f"the fixture's scores should be identical under both graders:\n{text}"
    assert "| 00_fixture | 90 | 40 | 0 | yes |" in text, (
        f"honest 90, imperfect (clip_sum left as released) 40, untouched 0, identical per cell; got:\n{text}")


def test_parity_refuses_an_unknown_assignment(capsys) -> None:
    from bench.parity import main as parity_main

    with pytest.raises(SystemExit):
        parity_main(["99_nothing"])
    assert "unknown assignment(s) 99_nothing" in capsys.readouterr().err
