"""cnncourse.runs: saved training runs, their checks, and loading instead of training when grading."""

from __future__ import annotations

import hashlib
import json

import pytest
import torch
from torch import nn

import cnncourse
from cnncourse.runs import REASONS, RunError, architecture, check_run, fingerprint, inspect_run, load_run
from cnncourse.runs import find_runs, save_run, trained_or_loaded
from cnncourse.train import History, fit


def small_net(hidden: int = 8) -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, hidden),
                         nn.ReLU(), nn.Linear(hidden, 3))


def trained(model: nn.Module) -> History:
    generator = torch.Generator().manual_seed(1)
    batches = [(torch.randn(16, 1, 8, 8, generator=generator), torch.randint(0, 3, (16,), generator=generator))
               for _ in range(3)]
    return fit(model, batches, batches[:1], epochs=2, progress=False, device="cpu", channels_last=False)


def lenet5() -> nn.Sequential:
    """LeNet-5's layers (LeCun et al., 1998, with ReLU and max pooling) for 1×28×28 digits."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84),
                         nn.ReLU(), nn.Linear(84, 10))


@pytest.fixture
def full(monkeypatch):
    monkeypatch.setenv("CNNCOURSE_BUDGET", "full")
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    monkeypatch.delenv("CNNCOURSE_RETRAIN", raising=False)


@pytest.fixture
def smoke(monkeypatch):
    monkeypatch.setenv("CNNCOURSE_BUDGET", "smoke")
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    monkeypatch.delenv("CNNCOURSE_RETRAIN", raising=False)


def reason_of(call) -> tuple[str, str]:
    with pytest.raises(RunError) as caught:
        call()
    return caught.value.reason, str(caught.value)


def test_round_trip_restores_weights_history_and_facts(tmp_path, full):
    model = small_net()
    history = trained(model)
    info = save_run("net", model, history, folder=tmp_path / "runs")
    assert info.weights == tmp_path / "runs" / "net.pt" and info.meta == tmp_path / "runs" / "net.json"
    assert info.budget == "full" and info.model_class == "Sequential" and info.epochs == 2
    assert info.versions["cnncourse"] == cnncourse.__version__ and info.versions["torch"] == torch.__version__
    assert info.sha256 == info.saved_sha256 == hashlib.sha256(info.weights.read_bytes()).hexdigest()
    assert info.fingerprint == fingerprint(model) and info.architecture == architecture(model)

    fresh = small_net(hidden=8)
    torch.nn.init.zeros_(fresh[4].weight)
    loaded = load_run("net", fresh, folder=tmp_path / "runs")
    assert isinstance(loaded, History) and loaded.as_dict() == history.as_dict()
    for (key, want), got in zip(model.state_dict().items(), fresh.state_dict().values()):
        assert got.dtype == want.dtype, f"{key} should load as {want.dtype}, got {got.dtype}"
        if want.is_floating_point():  # float16 storage: within its rounding of the float32 values
            assert torch.allclose(got, want, rtol=1e-3, atol=1e-4), f"{key} changed beyond float16 rounding"
        else:
            assert torch.equal(got, want), key
    stored = torch.load(info.weights, weights_only=True)
    assert stored["4.weight"].dtype == torch.float16, "floating parameters are stored as float16"
    assert stored["1.running_var"].dtype == torch.float32 and stored["1.num_batches_tracked"].dtype == torch.int64, (
        "buffers keep their own dtype")
    x = torch.randn(5, 1, 8, 8)
    model.eval(), fresh.eval()
    assert torch.equal(model(x).argmax(1), fresh(x).argmax(1))


@pytest.mark.slow
def test_float16_storage_keeps_accuracy_on_real_digits(shared_mnist, tmp_path, full):
    """LeNet-5-like, trained on 3,000 real MNIST test digits: the float16 run predicts as the float32 model."""
    from cnncourse.batches import TensorBatcher
    from cnncourse.data import load
    from cnncourse.train import evaluate

    digits = load("mnist", split="test", root=shared_mnist.parent, download=False)
    lenet = lenet5()
    train = TensorBatcher(digits.subset(range(3000)), 100, shuffle=True, seed=0, device="cpu")
    held = TensorBatcher(digits.subset(range(8000, 10000)), 1000, shuffle=False, device="cpu")
    history = fit(lenet, train, epochs=2, optimizer=torch.optim.Adam(lenet.parameters(), lr=2e-3), progress=False,
                  device="cpu")
    single = evaluate(lenet, held)["top1"]
    save_run("lenet", lenet, history, folder=tmp_path)
    reloaded = lenet5()
    load_run("lenet", reloaded, folder=tmp_path)
    stored = evaluate(reloaded, held)["top1"]
    assert single > 0.8, f"the float32 model should learn the digits (above 80%), got {single:.2%}"
    assert abs(stored - single) <= 1 / 2000, (
        f"the float16-stored run should score as the float32 model on 2,000 held-out digits: {single:.4f} vs {stored:.4f}")


def test_every_failure_reason_has_its_own_message(tmp_path, full, monkeypatch):
    folder = tmp_path / "runs"
    model = small_net()
    reason, message = reason_of(lambda: check_run("net", model, folder=folder))
    assert reason == "missing" and "net.pt does not exist" in message and "Run All" in message, message
    assert "submit the runs/ folder" in message, message

    # smoke run: accepted under smoke, rejected under full
    monkeypatch.setenv("CNNCOURSE_BUDGET", "smoke")
    save_run("net", model, trained(model), folder=folder)
    assert check_run("net", model, folder=folder).budget == "smoke"
    monkeypatch.setenv("CNNCOURSE_BUDGET", "full")
    reason, message = reason_of(lambda: load_run("net", small_net(), folder=folder))
    assert reason == "smoke" and "smoke budget" in message and "unset CNNCOURSE_BUDGET" in message, message

    save_run("net", model, None, folder=folder)
    other = small_net(hidden=16)
    before = [p.clone() for p in other.parameters()]
    reason, message = reason_of(lambda: load_run("net", other, folder=folder))
    assert reason == "fingerprint" and "4.weight: saved (8, 144), now (16, 144)" in message, message
    assert "changed the model after training" in message, message
    assert all(torch.equal(a, b) for a, b in zip(before, other.parameters())), "a failed load leaves the model as it was"

    (folder / "net.pt").write_bytes(b"not a torch file")
    reason, message = reason_of(lambda: check_run("net", model, folder=folder))
    assert reason == "unloadable" and "SHA-256 differs" in message, message
    record = json.loads((folder / "net.json").read_text())
    record["sha256"] = hashlib.sha256(b"not a torch file").hexdigest()
    (folder / "net.json").write_text(json.dumps(record))
    reason, message = reason_of(lambda: check_run("net", model, folder=folder))
    assert reason == "unloadable" and "does not load" in message and "Delete" in message, message
    (folder / "net.json").write_text("{broken")
    reason, message = reason_of(lambda: inspect_run("net", folder=folder))
    assert reason == "unloadable" and "not the record of a saved run" in message, message
    (folder / "net.json").unlink()
    reason, _ = reason_of(lambda: inspect_run(folder / "net.pt"))
    assert reason == "missing"
    assert set(REASONS) == {"missing", "smoke", "unloadable", "fingerprint"}


def test_weights_of_another_architecture_under_a_record_are_caught(tmp_path, full):
    model = small_net()
    info = save_run("net", model, None, folder=tmp_path)
    torch.save(small_net(hidden=16).state_dict(), info.weights)
    record = json.loads(info.meta.read_text())
    record["sha256"] = hashlib.sha256(info.weights.read_bytes()).hexdigest()
    info.meta.write_text(json.dumps(record))
    reason, message = reason_of(lambda: load_run("net", model, folder=tmp_path))
    assert reason == "unloadable" and "do not match the layers" in message, message


def test_inspect_run_reads_the_facts_without_a_model(tmp_path, smoke):
    model = small_net()
    save_run("net", model, trained(model), folder=tmp_path)
    info = inspect_run(tmp_path / "net.json")
    assert (info.name, info.budget, info.epochs, info.fingerprint) == ("net", "smoke", 2, fingerprint(model))
    assert info.size == (tmp_path / "net.pt").stat().st_size and len(info.sha256) == 64


def test_bad_names_are_refused(tmp_path):
    for bad in ("", "../x", "a/b", ".hidden", "x" * 200):
        with pytest.raises(ValueError, match="a run's name"):
            save_run(bad, small_net(), None, folder=tmp_path)


def test_trained_or_loaded_trains_and_saves_outside_grading(tmp_path, full):
    model = small_net()
    calls = []
    history = trained_or_loaded("net", model, lambda: calls.append(1) or trained(model), folder=tmp_path)
    assert calls == [1] and len(history) == 2
    assert check_run("net", model, folder=tmp_path).epochs == 2
    stored = torch.load(tmp_path / "net.pt", weights_only=True)
    assert torch.equal(model[4].weight, stored["4.weight"].float()), "the notebook goes on with the saved weights"
    with pytest.raises(TypeError, match="should return the History"):
        trained_or_loaded("net", model, lambda: None, folder=tmp_path)


def test_autograde_loads_without_calling_the_training_function(tmp_path, full, monkeypatch):
    model = small_net()
    save_run("net", model, trained(model), folder=tmp_path)
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    fresh = small_net(hidden=8)
    torch.nn.init.zeros_(fresh[6].weight)

    def must_not_train():
        raise AssertionError("the training function ran while grading with a usable run")

    history = trained_or_loaded("net", fresh, must_not_train, folder=tmp_path)
    assert len(history) == 2 and torch.allclose(fresh[6].weight, model[6].weight, atol=1e-3)


def test_autograde_in_full_never_trains_a_missing_run(tmp_path, full, monkeypatch, capsys):
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    history = trained_or_loaded("net", small_net(), lambda: pytest.fail("trained while grading"), folder=tmp_path)
    assert len(history) == 0 and not (tmp_path / "net.pt").exists()
    assert "Not training 'net' while grading" in capsys.readouterr().out


def test_autograde_in_smoke_trains_what_it_cannot_load(tmp_path, smoke, monkeypatch):
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    model = small_net()
    history = trained_or_loaded("net", model, lambda: trained(model), folder=tmp_path)
    assert len(history) == 2 and check_run("net", model, folder=tmp_path).budget == "smoke"


def test_retrain_setting_trains_again_while_grading(tmp_path, full, monkeypatch):
    model = small_net()
    save_run("net", model, trained(model), folder=tmp_path)
    first = (tmp_path / "net.pt").read_bytes()
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    monkeypatch.setenv("CNNCOURSE_RETRAIN", "1")
    calls = []
    trained_or_loaded("net", model, lambda: calls.append(1) or trained(model), folder=tmp_path)
    assert calls == [1] and (tmp_path / "net.pt").read_bytes() != first


def test_find_runs_lists_every_run_of_a_folder(tmp_path, smoke):
    assert find_runs(tmp_path / "nothing") == []
    for name in ("b", "a"):
        save_run(name, small_net(), None, folder=tmp_path)
    assert [info.name for info in find_runs(tmp_path)] == ["a", "b"]
