"""distributed_ai_model: stages hold only their layers, chained stages == the unsharded model."""
import shutil

import pytest
import torch
from safetensors import safe_open

from models import (InvalidInputError, Manifest, ShardIntegrityError, UnknownModelError, encode_tensor,
                       generate_pipelined, generate_whole, load_model, run_stage)
from models.generation import WholeModel, prompt_codec

PROMPTS = ["What is the capital of France?", "Hello, DI World"]
TOKENS = 5


@pytest.fixture(scope="module")
def whole(models_dir, stages_dir):
    return WholeModel(models_dir)


@pytest.fixture(scope="module")
def stages(models_dir, stages_dir):
    return [load_model("distributed_ai_model", models_dir, stage=i) for i in range(3)]


def test_manifest_lists_every_stage_and_the_tokenizer(stages_dir):
    manifest = Manifest.load(stages_dir / "manifest.json")
    assert manifest.num_stages == 3
    assert [manifest.stage_shard(i).layers for i in range(3)] == [(0, 10), (10, 20), (20, 30)]
    assert {s.name for s in manifest.shards if s.role == "tokenizer"} >= {"tokenizer.json", "chat_template.jinja"}
    assert [s.name for s in manifest.shards if s.role == "config"] == ["config.json"]
    assert len(manifest.root) == 64


def test_conversion_is_reproducible(stages_dir):
    """Every validator converts the same GGUF to the same bytes: the root matches the one built here."""
    from models.catalog import SMOLLM2

    root = Manifest.load(stages_dir / "manifest.json").root
    assert root == SMOLLM2.reference_root, "conversion gave other bytes than the reference build"


def test_each_stage_file_holds_only_its_layers(stages_dir):
    manifest = Manifest.load(stages_dir / "manifest.json")
    for stage in range(3):
        shard = manifest.stage_shard(stage)
        with safe_open(str(stages_dir / shard.name), framework="pt") as fh:
            names = list(fh.keys())
        layers = {int(n.split(".")[2]) for n in names if n.startswith("model.layers.")}
        assert layers == set(range(*shard.layers))
        assert ("model.embed_tokens.weight" in names) == (stage == 0)
        assert ("lm_head.weight" in names) == ("model.norm.weight" in names) == (stage == 2)


@pytest.mark.parametrize("prompt", PROMPTS)
def test_chained_stages_give_bit_identical_logits(whole, stages, prompt):
    ids = whole.codec.encode(prompt)
    hidden = torch.tensor([ids])
    for runner in stages:
        hidden = runner.forward(hidden)
    assert torch.equal(hidden[0, -1], whole.last_logits(ids))


@pytest.mark.parametrize("prompt", PROMPTS)
def test_pipelined_generation_equals_whole_model(models_dir, whole, prompt):
    calls = []

    def remote(stage, data):  # what the scheduler does: bytes in, bytes out, one stage at a time
        calls.append(stage)
        return run_stage(stage, data, models_dir)

    text = generate_pipelined(prompt, TOKENS, remote, models_dir)
    assert text == generate_whole(prompt, TOKENS, models_dir)
    assert text.strip() and calls[:6] == [0, 1, 2, 0, 1, 2] and len(calls) % 3 == 0


def test_whole_runner_returns_utf8_text(models_dir, whole):
    runner = load_model("distributed_ai_model", models_dir, max_new_tokens=TOKENS)
    out = runner.infer("What is the capital of France?".encode())
    assert out.decode("utf-8") == whole.generate("What is the capital of France?", TOKENS)
    assert len(runner.commitment(out)) == 32
    with pytest.raises(InvalidInputError, match="UTF-8"):
        runner.infer(b"\xff\xfe")


def test_a_validator_needs_only_its_stage_file_and_config(models_dir, stages_dir, stages, tmp_path):
    manifest = Manifest.load(stages_dir / "manifest.json")
    only = tmp_path / "distributed_ai_model" / "v1" / "stages-3"
    only.mkdir(parents=True)
    name = manifest.stage_shard(1).name
    shutil.copy(stages_dir / name, only / name)
    shutil.copy(stages_dir / "config.json", only / "config.json")
    from models.pipeline import StageRunner

    lonely = StageRunner(only, 1, manifest)
    x = stages[0].infer(encode_tensor(torch.tensor([prompt_codec(models_dir).encode("Hi")])))
    assert lonely.infer(x) == stages[1].infer(x)


def test_tampered_stage_is_refused(stages_dir, tmp_path):
    manifest = Manifest.load(stages_dir / "manifest.json")
    name = manifest.stage_shard(2).name
    shutil.copy(stages_dir / name, tmp_path / name)
    shutil.copy(stages_dir / "config.json", tmp_path / "config.json")
    with open(tmp_path / name, "r+b") as fh:  # flip one weight byte near the end
        fh.seek(-100, 2)
        byte = fh.read(1)
        fh.seek(-100, 2)
        fh.write(bytes([byte[0] ^ 0x40]))
    from models.pipeline import StageRunner

    with pytest.raises(ShardIntegrityError, match=rf"{name}.*refusing to load tampered shard"):
        StageRunner(tmp_path, 2, manifest)


def test_stage_inputs_are_checked(models_dir, stages):
    with pytest.raises(InvalidInputError, match="int64 token ids"):
        stages[0].infer(encode_tensor(torch.zeros(1, 4)))
    with pytest.raises(InvalidInputError, match="token ids must be in"):
        stages[0].infer(encode_tensor(torch.tensor([[49152]])))
    with pytest.raises(InvalidInputError, match=r"float32 hidden states \[1, T, 576\]"):
        stages[1].infer(encode_tensor(torch.zeros(1, 4, 8)))
    with pytest.raises(InvalidInputError, match="NaN"):
        stages[2].infer(encode_tensor(torch.full((1, 2, 576), float("nan"))))
    with pytest.raises(UnknownModelError, match="stages 0..2"):
        load_model("distributed_ai_model", models_dir, stage=3)


def test_stage_commitments(stages, models_dir):
    x = encode_tensor(torch.tensor([prompt_codec(models_dir).encode("Hi")]))
    h = stages[0].infer(x)
    c = stages[0].commitment(h)
    assert len(c) == 32 and c != stages[1].commitment(h)  # the stage index is bound into the commitment
    token = stages[2].infer(stages[1].infer(h))
    assert stages[2].commitment(token) != stages[2].commitment(encode_tensor(torch.tensor([0])))
