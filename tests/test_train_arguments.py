"""wafersim.train's arguments: a wrong type or a value out of range is a typed `TrainingArgumentError`
(an `ArgumentError`) naming the field, raised before anything runs, and the valid neighbours of each refused
value still train like the float64 NumPy reference (train.reference)."""
from __future__ import annotations

import numpy as np
import pytest

import wafersim as ws
from wafersim import train
from wafersim.train.reference import train_reference


@pytest.mark.parametrize("options", [dict(batch_size=0), dict(batch_size=-3), dict(batch_size=2.0),
                                     dict(batch_size=True), dict(batch_size=4, height=0, mode="pipelined")])
def test_out_of_range_trainer_options_are_argument_errors(options):
    with pytest.raises(train.TrainingArgumentError, match="must be a whole number >= 1") as err:
        train.Trainer(train.Model.mlp([4, 6, 3]), train.SGD(), **options)
    assert isinstance(err.value, ws.ArgumentError)
    wrong_type = any(isinstance(value, (float, bool)) for value in options.values())
    assert isinstance(err.value, train.TrainingArgumentTypeError) == wrong_type


@pytest.mark.parametrize("make, field", [
    (lambda: train.SGD(lr=-1), "lr"), (lambda: train.SGD(lr=float("nan")), "lr"), (lambda: train.SGD(momentum=-0.5),
                                                                                    "momentum"),
    (lambda: train.Adam(lr=-1e-3), "lr"), (lambda: train.Adam(beta1=1.0), "beta1"), (lambda: train.Adam(beta2=-0.1),
                                                                                      "beta2"),
    (lambda: train.Adam(eps=0.0), "eps"), (lambda: train.SGD(lr="0.1"), "lr"),
])
def test_optimizer_hyperparameters_out_of_range_are_argument_errors(make, field):
    with pytest.raises(train.TrainingArgumentError, match=f"{field} must be a finite number") as err:
        make()
    assert isinstance(err.value, ws.ArgumentError) and err.value.field == field
    assert train.SGD(lr=0.0).lr == 0.0                       # lr 0 is allowed: the weights stay as they are


@pytest.mark.parametrize("make", [lambda eps: train.Adam(eps=eps), lambda eps: train.LayerNorm(4, eps=eps),
                                  lambda eps: train.TransformerBlock(2, 4, 4, eps=eps)])
def test_eps_has_one_rule_and_one_message(make):
    # Adam's eps=nan said ">= 0" and eps=0 "> 0"; LayerNorm's eps=0 was a plain TrainingError; a
    # TransformerBlock's was taken, and its first step raised the layer-norm kernel's MLShapeError.
    for eps in (0.0, -1e-9, float("nan"), float("inf"), "1e-5"):
        with pytest.raises(train.TrainingArgumentError, match=r"eps must be a finite number > 0$") as err:
            make(eps)
        assert isinstance(err.value, ws.ArgumentError)
    assert make(1e-12).eps == 1e-12


@pytest.mark.parametrize("make, message", [
    (lambda: train.Adam(lr=0.01, betas=(0.9, 0.99)), r"argument 'betas': write beta1= and beta2="),
    (lambda: train.SGD(lr=0.1, weight_decay=1e-4), r"argument 'weight_decay': weight decay is not modelled"),
    (lambda: train.Adam(weight_decay=1e-4), r"argument 'weight_decay'"),
    (lambda: train.SGD(0.1, 0.9, nesterov=True), r"'nesterov': SGD here is PyTorch's heavy-ball momentum"),
    (lambda: train.SGD(lr=0.1, momentum=0.9, dampening=0.1), r"'dampening'"),
    (lambda: train.Adam(amsgrad=True), r"'amsgrad'"),
    (lambda: train.SGD(momentm=0.9), r"argument 'momentm'; did you mean 'momentum'\?"),
    (lambda: train.SGD(0.1, 0.2, 0.3), r"SGD.__init__\(\) takes from 1 to 3 positional arguments but 4 were given"),
    (lambda: train.SGD(0.1, lr=0.2), r"multiple values for argument 'lr'"),
    (lambda: train.Dense(4, 5, bias=False), r"Dense.__init__\(\) got an unexpected keyword argument 'bias'"),
    (lambda: train.LayerNorm(4, epsilon=1e-5), r"argument 'epsilon'"),
    (lambda: train.TransformerBlock(2, 4), r"missing 1 required positional argument: 'hidden'"),
    (lambda: train.Model.mlp([4, 5, 3], activaton="relu"), r"'activaton'; did you mean 'activation'\?"),
    (lambda: train.Model.mlp([4, 5, 3]).init_params(seed=1, dtype=np.float64), r"argument 'dtype'"),
    (lambda: train.MemoryXSpec(bandwidth=1e9), r"argument 'bandwidth'"),
    (lambda: train.Trainer(SMALL_MODEL, train.SGD(), batch_size=8, lr=0.1),
     r"'lr': the optimizer holds the learning rate"),
    (lambda: train.Trainer(SMALL_MODEL, train.SGD(), batch_size=8, epochs=3), r"'epochs': fit\(x, labels, steps\)"),
])
def test_calls_that_do_not_fit_are_typed_errors_saying_what_to_write(make, message):
    """(user54) A call that did not fit a training class's parameters (PyTorch's `betas=`, `weight_decay=`,
    Keras's `epochs=`, a misspelt keyword, an argument too many or missing) was Python's bare TypeError, not a
    `WaferError`, and said nothing of what to write instead."""
    with pytest.raises(train.TrainingArgumentTypeError, match=message) as err:
        make()
    assert isinstance(err.value, ws.WaferError) and isinstance(err.value, TypeError)
    # what the hints say to write instead is taken, and equals PyTorch's meaning of the refused call
    assert train.Adam(lr=0.01, beta1=0.9, beta2=0.99) == train.Adam(0.01, 0.9, 0.99)
    assert train.SGD(0.1, 0.9) == train.SGD(lr=0.1, momentum=0.9)


@pytest.mark.parametrize("call, message", [
    (lambda t, x, labels: t.fit(x, labels, epochs=2), r"Trainer.fit\(\) got an unexpected keyword argument 'epochs': "
                                                      r"fit\(x, labels, steps\) counts batches"),
    (lambda t, x, labels: t.fit(x, labels), r"missing 1 required positional argument: 'steps'"),
    (lambda t, x, labels: t.step(x, labels, lr=0.1), r"'lr': the optimizer holds the learning rate"),
    (lambda t, x, labels: t.save_checkpoint(), r"missing 1 required positional argument: 'path'"),
])
def test_trainer_method_calls_that_do_not_fit_are_typed_errors(call, message):
    x, labels = train.synthetic_classification(8, 6, 3, seed=1)
    trainer = train.Trainer(SMALL_MODEL, train.SGD(lr=0.1), batch_size=8)
    with pytest.raises(train.TrainingArgumentTypeError, match=message):
        call(trainer, x, labels)
    assert trainer.steps == 0  # nothing ran


# ----------------------------------------------------------------- arguments of the wrong type or out of range
SMALL_MODEL = train.Model.mlp([6, 8, 3])


@pytest.fixture(scope="module")
def small_trainer():
    x, labels = train.synthetic_classification(8, 6, 3, seed=1)
    trainer = train.Trainer(SMALL_MODEL, train.SGD(lr=0.1), batch_size=8,
                            device=ws.Device(ws.WaferSpec(width=8, height=8)))
    return trainer, x, labels


TYPE = train.TrainingArgumentTypeError


@pytest.mark.parametrize("call, error, word", [
    (lambda: train.Model.mlp([4, 2.5]), TYPE, "out_features"),
    (lambda: train.Dense(2.5, 4), TYPE, "in_features"),
    (lambda: train.Dense("4", 4), TYPE, "in_features"),
    (lambda: train.Dense(None, 4), TYPE, "in_features"),
    (lambda: train.Dense(4, 0), train.TrainingArgumentError, "out_features"),
    (lambda: train.LayerNorm(2.5), TYPE, "features"),
    (lambda: train.TransformerBlock(2, 4.0, 8), TYPE, "width"),
    (lambda: train.Model.mlp("46"), TYPE, "sizes"),
    # (was taken for its truth value: causal="no" masked attention)
    (lambda: train.TransformerBlock(2, 4, 8, causal="no"), TYPE, r"causal\) must be True or False, got 'no'"),
    (lambda: train.Model.mlp(None), TYPE, "sizes"),
    (lambda: train.Model(None), TYPE, "layers"),
    (lambda: train.Model([4, 3]), TYPE, "layers"),
    (lambda: train.SGD(momentum=1.5), train.TrainingArgumentError, "momentum"),
    (lambda: train.SGD(momentum=1.0), train.TrainingArgumentError, "momentum"),
    (lambda: train.synthetic_classification(2.5, 6, 3), TYPE, "samples"),
    (lambda: train.Trainer(SMALL_MODEL, None, 8), TYPE, "optimizer"),
    (lambda: train.Trainer(SMALL_MODEL, "sgd", 8), TYPE, "optimizer"),
    (lambda: train.Trainer(SMALL_MODEL, train.SGD(), 8, seed=-1), train.TrainingArgumentError, "seed"),
    (lambda: train.Trainer(SMALL_MODEL, train.SGD(), 8, seed="x"), TYPE, "seed"),
    (lambda: train.Trainer(SMALL_MODEL, train.SGD(), 8, memoryx_spec="x"), TYPE, "memoryx_spec"),
    (lambda: train.Trainer(SMALL_MODEL, train.SGD(), 8, device="dev"), TYPE, "device"),
    (lambda: train.Trainer(None, train.SGD(), 8), TYPE, "model"),
    (lambda: train.Trainer(SMALL_MODEL, train.SGD(), 8, tile=0), train.TrainingArgumentError, "tile"),
    (lambda: train.Trainer(SMALL_MODEL, train.SGD(), 8, chunk=1.5), TYPE, "chunk"),
    # (micro_batch=0 ran as the default micro-batch; 1.0 was a CompileError from inside the step kernel;
    # a negative one passed in weight-streaming mode)
    (lambda: train.Trainer(SMALL_MODEL, train.SGD(), 8, mode="pipelined", micro_batch=0),
     train.TrainingArgumentError, "micro_batch must be a whole number >= 1, got 0"),
    (lambda: train.Trainer(SMALL_MODEL, train.SGD(), 8, mode="pipelined", micro_batch=1.0), TYPE, "micro_batch"),
    (lambda: train.Trainer(SMALL_MODEL, train.SGD(), 8, micro_batch=-1), train.TrainingArgumentError,
     "micro_batch"),
    # (these four were plain TrainingErrors, neither ArgumentErrors nor TypeErrors)
    (lambda: train.Dense(2, 2, "sigmoid"), train.TrainingArgumentError,
     r"activation must be None or one of \['gelu', 'relu', 'tanh'\], got 'sigmoid'"),
    (lambda: train.Dense(2, 2, 1), TYPE, "activation must be None or one of"),
    (lambda: train.Trainer(SMALL_MODEL, train.SGD(), 8, mode="sideways"), train.TrainingArgumentError,
     r"mode must be one of \('streaming', 'pipelined', 'auto'\), got 'sideways'"),
    (lambda: train.Trainer(SMALL_MODEL, train.SGD(), 8, mode=["auto"]), TYPE, "mode must be one of"),
    (lambda: train.Trainer(SMALL_MODEL, train.SGD(), 8, precision="float8"), train.TrainingArgumentError,
     r"precision must be one of \['bfloat16', 'float16', 'float32'\], got 'float8'"),
    (lambda: train.Trainer(SMALL_MODEL, train.SGD(), 8, precision=16), TYPE, "precision must be one of"),
    (lambda: train.Trainer(SMALL_MODEL, train.SGD(), 8, mode="pipelined", micro_batch=3),
     train.TrainingArgumentError, "a micro-batch of 3 samples must divide the batch of 8"),
])
def test_bad_model_optimizer_and_trainer_arguments_are_typed_errors(call, error, word):
    with pytest.raises(error, match=word) as err:
        call()
    assert isinstance(err.value, train.TrainingError)
    if error is TYPE:
        assert isinstance(err.value, ws.ArgumentTypeError) and isinstance(err.value, TypeError)


@pytest.mark.parametrize("call, error, word", [
    (lambda t, x, y: t.step(x.astype(complex) + 1j, y), ws.ArgumentTypeError, "complex"),
    (lambda t, x, y: t.fit(x, y, steps=-1), train.TrainingArgumentError, "steps"),
    # (an empty data set was a bare ValueError from labels.min())
    (lambda t, x, y: t.fit(x[:0], y[:0], steps=1), train.TrainingError, r"x has no samples \(shape \(0, 6\)\)"),
    (lambda t, x, y: t.step(x[:0], y[:0]), train.TrainingError, "x has no samples"),
    (lambda t, x, y: t.fit(x, y, steps=2.5), TYPE, "steps"),
    (lambda t, x, y: t.fit(x, y, steps=1, callback=5), TYPE, "callback"),
    # step() takes one batch: a whole data set (12 rows, which 8 does not divide, said "must divide") is
    # refused saying so and pointing at fit()
    (lambda t, x, y: t.step(np.vstack([x, x[:4]]), np.concatenate([y, y[:4]])), train.TrainingError,
     r"a batch has 8 rows, got 12: step\(\) takes one batch .*x\[:8\].*fit\(x, labels, steps\)"),
    (lambda t, x, y: t.step(np.vstack([x, x]), np.concatenate([y, y])), train.TrainingError, "got 16: step"),
    # a label past the classes names itself and where it is
    (lambda t, x, y: t.step(x, np.where(np.arange(8) == 5, 3, y)), train.TrainingError,
     r"labels must lie in \[0, 3\) .*got 3 at index 5"),
    (lambda t, x, y: t.fit(x, np.where(np.arange(8) == 2, -1, y), steps=1), train.TrainingError,
     "got -1 at index 2"),
])
def test_bad_step_and_fit_arguments_are_typed_errors(small_trainer, call, error, word):
    trainer, x, labels = small_trainer
    before = trainer.steps
    with pytest.raises(error, match=word):
        call(trainer, x, labels)
    assert trainer.steps == before                             # nothing ran


def test_valid_neighbours_of_the_refused_training_arguments_still_train(small_trainer):
    trainer, x, labels = small_trainer
    assert trainer.fit(x, labels, steps=0) == []
    assert train.SGD(momentum=0.99).momentum == 0.99 and train.Dense(np.int64(4), 2).in_features == 4
    assert train.Model.mlp((6, np.int32(8), 3)).param_shapes() == SMALL_MODEL.param_shapes()
    start = trainer.params
    report = trainer.step(x.astype(np.float64), labels)          # real float64 rounds to float32, as before
    losses, _ = train_reference(SMALL_MODEL, start, train.SGD(lr=0.1), x, labels, 1, 8)
    assert report.loss == pytest.approx(losses[0], rel=1e-4)


@pytest.mark.parametrize("bad, error", [("sigmoid", train.TrainingArgumentError), ({}, train.TrainingArgumentTypeError),
                                        (1.0, train.TrainingArgumentTypeError)])
def test_an_mlp_without_hidden_layers_checks_its_activation_too(bad, error):
    """`Model.mlp([2, 3], activation="sigmoid")` has no hidden layer to take the activation, and was accepted
    without a word (a typo went unnoticed until a deeper model); it is checked as Dense's is."""
    with pytest.raises(error, match=r"Model.mlp\(activation\)"):
        train.Model.mlp([2, 3], activation=bad)
    with pytest.raises(error, match=r"activation must be None or one of"):
        train.Model.mlp([2, 4, 3], activation=bad)
    assert train.Model.mlp([2, 3], activation="tanh").layers == (train.Dense(2, 3, None),)


def test_model_sizes_of_a_batch_or_a_seed_that_is_no_whole_number_are_refused():
    """`activation_bytes("2")` repeated a string ("2222...") instead of multiplying, and `init_params(2.5)` was
    NumPy's bare "SeedSequence expects int"; both are whole numbers >= 0, as the trainer's options are."""
    model = train.Model.mlp([4, 5, 3])
    for bad in ("2", [2], 2.5):
        with pytest.raises(train.TrainingArgumentTypeError, match="activation_bytes"):
            model.activation_bytes(bad)
        with pytest.raises(train.TrainingArgumentTypeError, match="init_params"):
            model.init_params(bad)
    with pytest.raises(train.TrainingArgumentError, match="init_params"):
        model.init_params(-1)
    per_sample = sum(layer.kept_per_sample() for layer in model.layers) + model.classes
    assert model.activation_bytes(np.int64(3)) == 4 * 3 * per_sample
    assert all(np.array_equal(a, b) for a, b in zip(model.init_params(7).values(), model.init_params(7).values()))
