"""Training checkpoints (`Trainer.save_checkpoint` / `load_checkpoint`, `train.checkpoint`): in every mode a
run of 2 steps, saved, loaded into a new trainer and run 1 more step is bit for bit the uninterrupted run of
3 (losses, step reports, weights, optimizer state), and run 2 more steps in a fresh Python process the run
of 4; `fit` goes on at the saved batch; a checkpoint converts exactly between modes; and files that cannot
be loaded, or trainers they do not fit, are `CheckpointError`s naming what differs."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest

import wafersim as ws
from wafersim import train
from wafersim.train import checkpoint
from wafersim.train.checkpoint import take_state

MLP = train.Model.mlp([6, 8, 3], activation="relu")
TRANSFORMER = train.Model([train.TransformerBlock(length=2, width=4, hidden=4, causal=True), train.Dense(8, 3)])
SGD = train.SGD(lr=0.3, momentum=0.5)
ADAM = train.Adam(lr=0.05)
# (model, batch size, mode): weight streaming, the pipelined step kernel (an MLP), staged pipelining (a
# model with a transformer block).
SETUPS = {"streaming": (MLP, 8, "streaming"), "pipelined": (MLP, 8, "pipelined"),
          "staged": (TRANSFORMER, 2, "pipelined")}


def data(model, batch_size, batches=4):
    return train.synthetic_classification(batches * batch_size, model.in_features, model.classes, seed=1)


def trainer(setup, optimizer, **options):
    model, batch_size, mode = SETUPS[setup]
    return train.Trainer(model, optimizer, batch_size, mode=mode, seed=2, **options)


def assert_same_state(a, b):
    """Weights, optimizer state and the optimizer's step count equal bit for bit."""
    (pa, sa, na), (pb, sb, nb) = take_state(a), take_state(b)
    assert na == nb and list(pa) == list(pb)
    for name in pa:
        np.testing.assert_array_equal(pa[name], pb[name], err_msg=name)
        assert list(sa[name]) == list(sb[name])
        for slot in sa[name]:
            np.testing.assert_array_equal(sa[name][slot], sb[name][slot], err_msg=f"{name} {slot}")


@pytest.mark.parametrize("setup, precision, optimizer", [
    pytest.param(setup, precision, optimizer, id=f"{setup}-{precision}-{name}")
    for setup in SETUPS for precision in ("float32", "bfloat16")
    for name, optimizer in (("sgd-momentum", SGD), ("adam", ADAM))
    if precision == "float32" or (setup != "streaming" and optimizer is ADAM)])  # 16 bits: the wafer's copies
def test_resumed_run_is_the_uninterrupted_one_bit_for_bit(setup, precision, optimizer, tmp_path):
    # Saved after 2 steps (momentum and Adam's moments then sums of two gradients, not one alone) and run 1 more
    # step: the step that reads what was loaded (the fresh-process test below runs 2 after it).
    x, labels = data(*SETUPS[setup][:2])
    whole = trainer(setup, optimizer, precision=precision)
    reports = whole.fit(x, labels, 3)
    first = trainer(setup, optimizer, precision=precision)
    first.fit(x, labels, 2)
    path = first.save_checkpoint(tmp_path / "run.ckpt")
    assert path == tmp_path / "run.ckpt" and path.exists() and not list(tmp_path.glob("*.partial"))
    resumed = trainer(setup, optimizer, precision=precision)
    meta = resumed.load_checkpoint(path)
    assert meta["steps"] == resumed.steps == 2 and meta["mode"] == SETUPS[setup][2]
    assert meta["optimizer"] == {"type": type(optimizer).__name__, **vars(optimizer)}
    assert_same_state(first, resumed)
    rest = resumed.fit(x, labels, 1)
    assert [r.loss for r in rest] == [r.loss for r in reports[2:]]
    assert rest == reports[2:]                              # the simulated costs too
    assert_same_state(whole, resumed)


def test_a_fresh_process_resumes_bit_for_bit(tmp_path):
    x, labels = data(MLP, 8)
    whole = train.Trainer(MLP, ADAM, 8, seed=2)
    losses = [r.loss for r in whole.fit(x, labels, 4)]
    first = train.Trainer(MLP, ADAM, 8, seed=2)
    first.fit(x, labels, 2)
    first.save_checkpoint(tmp_path / "run.ckpt")
    script = textwrap.dedent(f"""
        import json, numpy as np
        from wafersim import train
        model = train.Model.mlp([6, 8, 3], activation="relu")
        x, labels = train.synthetic_classification(32, 6, 3, seed=1)
        trainer = train.Trainer(model, train.Adam(lr=0.05), 8)
        trainer.load_checkpoint({str(tmp_path / "run.ckpt")!r})
        losses = [r.loss for r in trainer.fit(x, labels, 2)]
        trainer.save_checkpoint({str(tmp_path / "end.ckpt")!r})
        print(json.dumps(losses))
    """)
    package = str(Path(ws.__file__).resolve().parents[1])
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                          env={"PYTHONPATH": package, "PATH": "/usr/bin:/bin"})
    assert json.loads(done.stdout.strip().splitlines()[-1]) == losses[2:]
    end = train.Trainer(MLP, ADAM, 8)
    end.load_checkpoint(tmp_path / "end.ckpt")
    assert end.steps == 4
    assert_same_state(whole, end)


def test_fit_goes_on_at_the_saved_batch(tmp_path):
    x, labels = data(MLP, 8)                                 # 4 batches: steps 3 and 4 take batches 3 and 0
    whole = train.Trainer(MLP, SGD, 8, seed=2)
    reports = whole.fit(x, labels, 5)
    first = train.Trainer(MLP, SGD, 8, seed=2)
    first.fit(x, labels, 3)
    first.save_checkpoint(tmp_path / "run.ckpt")
    resumed = train.Trainer(MLP, SGD, 8)
    resumed.load_checkpoint(tmp_path / "run.ckpt")
    rest = resumed.fit(x, labels, 2)
    assert [r.step for r in rest] == [3, 4] and resumed.steps == 5
    assert [r.loss for r in rest] == [r.loss for r in reports[3:]]


def test_the_trainers_own_hyperparameters_are_used(tmp_path):
    x, labels = data(MLP, 8)
    first = train.Trainer(MLP, SGD, 8, seed=2)
    first.fit(x, labels, 2)
    first.save_checkpoint(tmp_path / "run.ckpt")
    slower = train.SGD(lr=0.05, momentum=0.5)
    resumed = train.Trainer(MLP, slower, 8)
    assert resumed.load_checkpoint(tmp_path / "run.ckpt")["optimizer"]["lr"] == 0.3   # the file says
    first.memoryx.optimizer = slower                          # the same run, its learning rate changed
    assert [r.loss for r in resumed.fit(x, labels, 2)] == [r.loss for r in first.fit(x, labels, 2)]
    assert_same_state(first, resumed)


@pytest.mark.parametrize("model_name", ["mlp", "staged"])
@pytest.mark.parametrize("source, target", [("streaming", "pipelined"), ("pipelined", "streaming")])
def test_a_checkpoint_converts_exactly_between_modes(model_name, source, target, tmp_path):
    model, batch_size = (MLP, 8) if model_name == "mlp" else (TRANSFORMER, 2)
    x, labels = data(model, batch_size)
    for optimizer in (SGD, ADAM):
        first = train.Trainer(model, optimizer, batch_size, mode=source, seed=2)
        first.fit(x, labels, 2)
        first.save_checkpoint(tmp_path / "run.ckpt")
        other = train.Trainer(model, optimizer, batch_size, mode=target)
        assert other.load_checkpoint(tmp_path / "run.ckpt")["mode"] == source
        assert_same_state(first, other)                       # weights and state: the same math in every mode
        # The run goes on in the new mode's float32 arithmetic: equal up to rounding, not bit for bit.
        theirs, ours = first.fit(x, labels, 2), other.fit(x, labels, 2)
        np.testing.assert_allclose([r.loss for r in ours], [r.loss for r in theirs], rtol=1e-4)
        if optimizer is SGD:
            for name, w in first.params.items():
                np.testing.assert_allclose(other.params[name], w, atol=1e-5, err_msg=name)


# ---------------------------------------------------------------------- what cannot be loaded
@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A streaming SGD-with-momentum checkpoint after 2 steps."""
    path = tmp_path_factory.mktemp("ckpt") / "run.ckpt"
    first = train.Trainer(MLP, SGD, 8, seed=2)
    first.fit(*data(MLP, 8), 2)
    first.save_checkpoint(path)
    return path


def refused(trainer_, path, *words, **options):
    with pytest.raises(ws.CheckpointError) as info:
        trainer_.load_checkpoint(path, **options)
    for word in words:
        assert word in str(info.value), str(info.value)
    return info.value


def test_another_model_is_refused_naming_the_layer(saved):
    error = refused(train.Trainer(train.Model.mlp([6, 9, 3]), SGD, 8), saved, "layer 0", "out_features=8",
                    "out_features=9")
    assert error.layer == 0
    refused(train.Trainer(train.Model.mlp([6, 8, 8, 3]), SGD, 8), saved, "2 layers", "3")
    refused(train.Trainer(train.Model.mlp([6, 8, 3], activation="tanh"), SGD, 8), saved, "layer 0", "'relu'",
            weights_only=True)


def test_another_optimizer_type_is_refused_unless_weights_only(saved):
    adam = train.Trainer(MLP, ADAM, 8)
    refused(adam, saved, "SGD", "Adam", "weights_only=True")
    adam.load_checkpoint(saved, weights_only=True)
    first = train.Trainer(MLP, SGD, 8)
    first.load_checkpoint(saved)
    for name, w in first.params.items():
        np.testing.assert_array_equal(adam.params[name], w)
    assert adam.steps == 0 and adam.memoryx.steps == 0 and all(not s for s in adam.memoryx.state.values())


def test_another_batch_size_is_refused_unless_weights_only(saved):
    other = train.Trainer(MLP, SGD, 4)
    refused(other, saved, "batch size is 8", "4", "weights_only=True")
    other.load_checkpoint(saved, weights_only=True)
    assert other.steps == 0


def test_momentum_state_the_file_lacks_starts_at_zero(tmp_path):
    plain = train.Trainer(MLP, train.SGD(lr=0.3), 8, seed=2)
    plain.fit(*data(MLP, 8), 1)
    plain.save_checkpoint(tmp_path / "plain.ckpt")
    assert set(np.load(tmp_path / "plain.ckpt")) == {"meta", "param_0", "param_1", "param_2", "param_3"}
    for mode in ("streaming", "pipelined"):
        heavy = train.Trainer(MLP, SGD, 8, mode=mode)
        heavy.load_checkpoint(tmp_path / "plain.ckpt")
        assert all(not v.any() for s in take_state(heavy)[1].values() for v in s.values())


def test_damaged_and_foreign_files_are_refused(saved, tmp_path):
    fresh = train.Trainer(MLP, SGD, 8)
    raw = saved.read_bytes()
    (tmp_path / "truncated").write_bytes(raw[:len(raw) // 2])
    refused(fresh, tmp_path / "truncated", "truncated or corrupted")
    corrupted = bytearray(raw)
    for i in range(len(raw) // 3, len(raw) // 3 + 64):      # inside a compressed array: its CRC fails
        corrupted[i] ^= 0x5A
    (tmp_path / "corrupted").write_bytes(bytes(corrupted))
    refused(fresh, tmp_path / "corrupted", str(tmp_path / "corrupted"))
    (tmp_path / "text").write_text("hello")
    refused(fresh, tmp_path / "text", "not a readable wafersim training checkpoint")
    refused(fresh, tmp_path / "missing", "no such file")
    np.savez(tmp_path / "plain.npz", a=np.zeros(3))
    refused(fresh, tmp_path / "plain.npz", "no meta entry")
    device = ws.Device(ws.WaferSpec(width=2, height=2))
    device.save(tmp_path / "device.npz")
    refused(fresh, tmp_path / "device.npz", "ws.Device.load")
    assert fresh.steps == 0 and fresh.memoryx.steps == 0   # nothing was loaded


def rewrite(saved, path, change):
    """A copy of `saved` with `change(meta, arrays)` applied."""
    with np.load(saved, allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    meta = json.loads(str(arrays.pop("meta")[()]))
    change(meta, arrays)
    np.savez(path, meta=np.array(json.dumps(meta)), **arrays)
    return path


def test_other_versions_and_inconsistent_files_are_refused(saved, tmp_path):
    fresh = train.Trainer(MLP, SGD, 8)
    refused(fresh, rewrite(saved, tmp_path / "v2.npz", lambda m, a: m.update(format_version=2)), "version 2")
    refused(fresh, rewrite(saved, tmp_path / "shape.npz", lambda m, a: a.update(param_0=np.zeros((8, 6), np.float32))),
            "param_0", "'0.w'", "(8, 6)")
    wide = lambda m, a: a.update(param_1=a["param_1"].astype(np.float64))   # noqa: E731
    refused(fresh, rewrite(saved, tmp_path / "dtype.npz", wide), "float64")
    refused(fresh, rewrite(saved, tmp_path / "gone.npz", lambda m, a: a.pop("state_2_velocity")),
            "state_2_velocity", "missing")
    refused(fresh, rewrite(saved, tmp_path / "steps.npz", lambda m, a: m.update(steps=-1)), "steps")
    refused(fresh, rewrite(saved, tmp_path / "meta.npz", lambda m, a: m.pop("tensors")), "inconsistent")
    refused(fresh, rewrite(saved, tmp_path / "model.npz", lambda m, a: m.pop("model")), "lacks model")
    refused(fresh, rewrite(saved, tmp_path / "layers.npz", lambda m, a: m.update(model="mlp")), "inconsistent")


def test_arguments_of_the_wrong_type(saved):
    fresh = train.Trainer(MLP, SGD, 8)
    with pytest.raises(ws.ArgumentTypeError, match="path"):
        fresh.save_checkpoint(None)
    with pytest.raises(ws.ArgumentTypeError, match="weights_only"):
        fresh.load_checkpoint(saved, weights_only="yes")


def test_a_file_that_cannot_be_written_is_a_checkpoint_error(tmp_path):
    with pytest.raises(ws.CheckpointError, match="cannot write"):
        train.Trainer(MLP, SGD, 8).save_checkpoint(tmp_path / "no-such-folder" / "run.ckpt")


def test_the_file_is_plain_arrays(saved):
    with zipfile.ZipFile(saved) as archive:
        assert all(name.endswith(".npy") for name in archive.namelist())
    meta, params, state = checkpoint.read(saved)
    assert meta["format"] == checkpoint.FORMAT and meta["format_version"] == checkpoint.FORMAT_VERSION
    assert meta["model"][0] == {"type": "Dense", "in_features": 6, "out_features": 8, "activation": "relu"}
    assert (meta["batch_size"], meta["precision"], meta["optimizer_steps"]) == (8, "float32", 2)
    assert list(params) == list(MLP.param_shapes()) and all(list(s) == ["velocity"] for s in state.values())


def test_a_path_that_cannot_be_written_is_refused_before_any_work(tmp_path, monkeypatch):
    def no_work(trainer):
        raise AssertionError("the trainer's state was gathered for a path that is refused")

    monkeypatch.setattr(checkpoint, "take_state", no_work)
    for path, why in ((tmp_path, "is a folder"), (tmp_path / "missing" / "run.ckpt", "does not exist")):
        with pytest.raises(ws.CheckpointError, match=why) as info:   # was: after the work, "cannot write"
            train.Trainer(MLP, SGD, 8).save_checkpoint(path)
        assert info.value.path == str(path)


@pytest.mark.parametrize("mode", ["streaming", "pipelined"])
def test_numpy_sizes_and_hyperparameters_train_save_and_resume(mode, tmp_path):
    """Layer sizes, eps and hyperparameters given as NumPy numbers (as read from a config array) are taken
    as the Python values: the default device was refused (WaferSpec.height = np.int64(8)) and a checkpoint
    raised a bare TypeError (np.float32 is not JSON serialisable). The run matches NumPy's and resumes."""
    from wafersim.train.reference import train_reference
    model = train.Model([train.Dense(np.int64(6), np.int64(8), "relu"),
                         train.LayerNorm(np.int32(8), eps=np.float32(1e-5)), train.Dense(8, np.int64(3))])
    adam = train.Adam(lr=np.float32(0.05), beta1=np.float64(0.9), eps=np.float32(1e-8))
    assert type(model.layers[0].out_features) is int and type(adam.lr) is float and adam.lr == np.float32(0.05)
    x, labels = data(model, 4)
    whole = train.Trainer(model, adam, np.int64(4), mode=mode, height=2)
    start = whole.params
    losses = [r.loss for r in whole.fit(x, labels, 4)]
    reference, _ = train_reference(model, start, adam, x, labels, 4, 4)
    np.testing.assert_allclose(losses, reference, rtol=1e-4)
    first = train.Trainer(model, adam, 4, mode=mode, height=2)
    first.fit(x, labels, 2)
    resumed = train.Trainer(model, adam, 4, mode=mode, height=2)
    meta = resumed.load_checkpoint(first.save_checkpoint(tmp_path / "run.ckpt"))
    assert meta["optimizer"]["lr"] == float(np.float32(0.05))
    assert [r.loss for r in resumed.fit(x, labels, 2)] == losses[2:]
    assert_same_state(resumed, whole)
