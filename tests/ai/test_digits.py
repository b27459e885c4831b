"""digits_cnn: real trained weights, accuracy on the held-out split, byte interface, tampering."""
import json
import shutil

import pytest

from models import InvalidInputError, ShardIntegrityError, UnknownModelError, get_manifest, list_models, load_model
from models.digits import METRICS, WEIGHTS, encode_input, load_split


def test_registry_lists_both_models():
    ids = {m.model_id for m in list_models()}
    assert {"digits_cnn", "distributed_ai_model"} <= ids
    with pytest.raises(UnknownModelError, match="unknown model 'nope'"):
        load_model("nope")


def test_held_out_accuracy_through_the_byte_interface(models_dir, digits_dir):
    runner = load_model("digits_cnn", models_dir)
    _, x_test, _, y_test = load_split()
    predicted = [runner.infer(encode_input(pixels))[0] for pixels in x_test]
    accuracy = sum(int(p == y) for p, y in zip(predicted, y_test)) / len(y_test)
    assert accuracy >= 0.95
    recorded = json.loads((digits_dir / METRICS).read_text())["test_accuracy"]
    assert accuracy == pytest.approx(recorded)


def test_lean_forward_equals_the_module_to_the_last_bit(models_dir, digits_dir):
    """The runner's `logits` (functional calls) is `DigitsCNN.forward` (the module the weights were trained in)
    bit for bit, on every image of the dataset, one at a time as validators run them and as one batch."""
    import numpy as np
    import torch
    from sklearn.datasets import load_digits

    from models.digits import to_tensor

    runner = load_model("digits_cnn", models_dir)
    pixels = load_digits().data.astype(np.uint8)
    with torch.no_grad():
        assert torch.equal(runner.logits(to_tensor(pixels)), runner.model(to_tensor(pixels)))
        for row in pixels:
            x = to_tensor(row[None, :])
            assert torch.equal(runner.logits(x), runner.model(x))


def test_output_and_commitment(models_dir, digits_dir):
    runner = load_model("digits_cnn", models_dir)
    _, x_test, _, y_test = load_split()
    out = runner.infer(encode_input(x_test[0]))
    assert len(out) == 1 and 0 <= out[0] <= 9
    commitments = {runner.commitment(bytes([c])) for c in range(10)}
    assert len(commitments) == 10 and all(len(c) == 32 for c in commitments)


@pytest.mark.parametrize("data, message", [
    (bytes(63), "exactly 64 bytes"), (bytes(65), "exactly 64 bytes"), (bytes([17]) * 64, "0..16"),
])
def test_bad_input_is_refused(models_dir, digits_dir, data, message):
    runner = load_model("digits_cnn", models_dir)
    with pytest.raises(InvalidInputError, match=message):
        runner.infer(data)


def test_manifest_and_tampered_weights(models_dir, digits_dir, tmp_path):
    manifest = get_manifest("digits_cnn", models_dir)
    assert manifest.num_stages == 1 and manifest.shards[0].name == WEIGHTS
    copy = tmp_path / "digits_cnn" / "v1"
    shutil.copytree(digits_dir, copy)
    weights = bytearray((copy / WEIGHTS).read_bytes())
    weights[-1] ^= 1
    (copy / WEIGHTS).write_bytes(bytes(weights))
    with pytest.raises(ShardIntegrityError, match="digits_cnn.safetensors"):
        load_model("digits_cnn", tmp_path, manifest=manifest.to_dict())
