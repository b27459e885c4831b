"""price-v1, mm-v1 and risk-model: shipped weights trained from shipped data, held-out figures, byte
encodings, stages, commitments the node recomputes, reproducible training and tampered shards."""
import json
import os
import shutil
from pathlib import Path

import eth_abi
import pytest

from models import InvalidInputError, ShardIntegrityError, UnknownModelError, get_manifest, load_model
from models import small
from models.catalog import MARKET, MODELS, PRICE, RISK
from models.manifest import Manifest

ROOT = Path(__file__).resolve().parents[2]
SMALL = (PRICE, MARKET, RISK)
ONE = 10**18


@pytest.fixture(scope="module")
def small_dir(tmp_path_factory) -> Path:
    """The shipped weights installed as a validator installs them (a copy, checked against the catalog)."""
    path = tmp_path_factory.mktemp("small-models")
    for info in SMALL:
        small.ensure(info, path)
    return path


def test_catalog_entries_are_data_not_branches():
    for info in SMALL:
        assert info.module and not info.generates and info.gas_price > 0
        assert small.model_module(info).INFO is info
    assert RISK.num_stages == 2 and PRICE.num_stages == MARKET.num_stages == 1
    assert MODELS["distributed_ai_model"].generates and not MODELS["digits_cnn"].module
    with pytest.raises(UnknownModelError):
        small.model_module(MODELS["digits_cnn"])


def test_held_out_figures(small_dir):
    price = small.metrics(PRICE, small_dir)
    assert price["test_samples"] > 1500 and price["test_mape"] <= price["naive_mape"] * 1.02
    market = small.metrics(MARKET, small_dir)
    # the next period's range (what sets the fee) is predicted better than "same as today" and the mean
    assert market["test_range_mae_pct"] < market["persistence_range_mae_pct"] < market["train_mean_range_mae_pct"]
    assert market["test_range_r2"] > 0.2
    risk = small.metrics(RISK, small_dir)
    assert risk["test_samples"] == 53 and risk["test_accuracy"] >= 0.6  # chance is 1/3
    low, medium, high = risk["test_mean_risk_by_class"]
    assert low < medium < high
    for info in SMALL:
        manifest = get_manifest(info.model_id, small_dir)
        assert manifest.extra["seed"] == 0 and "train_seconds" not in manifest.extra


def test_price_v1_encoding(small_dir):
    from models.marketdata import bars

    runner = load_model("price-v1", small_dir)
    closes = [int(round(b.close * 10**6)) * 10**12 for b in bars("sp500")[-16:]]
    out = runner.infer(eth_abi.encode(["uint256[16]"], [closes]))
    (price,) = eth_abi.decode(["uint256"], out)
    assert len(out) == 32 and abs(price - closes[-1]) <= closes[-1] // 10
    ppm = (price * 10**6) // closes[-1] - 10**6
    assert closes[-1] * (10**6 + ppm) // 10**6 == price  # computed exactly from the last price
    # scale-free: the same window in other units gives the same return
    scaled = runner.infer(eth_abi.encode(["uint256[16]"], [[c // 10**6 for c in closes]]))
    assert eth_abi.decode(["uint256"], scaled)[0] == (closes[-1] // 10**6) * (10**6 + ppm) // 10**6
    for bad, why in ((b"\x00" * 480, "16 uint256"), (eth_abi.encode(["uint256[16]"], [[0] + closes[1:]]), "> 0")):
        with pytest.raises(InvalidInputError, match=why):
            runner.infer(bad)


def test_mm_v1_encoding(small_dir):
    runner = load_model("mm-v1", small_dir)
    calm = eth_abi.encode(["uint256"] * 6, [2 * ONE, 2002 * ONE // 1000, 1998 * ONE // 1000, 2 * ONE, 10, 10])
    wild = eth_abi.encode(["uint256"] * 6, [2 * ONE, 22 * ONE // 10, 18 * ONE // 10, 21 * ONE // 10, 50, 10])
    calm_price, calm_fee = eth_abi.decode(["uint256", "uint256"], runner.infer(calm))
    wild_price, wild_fee = eth_abi.decode(["uint256", "uint256"], runner.infer(wild))
    assert abs(calm_price - 2 * ONE) <= ONE // 5 and 1 <= calm_fee < wild_fee <= 1000  # a wilder market, a wider fee
    assert abs(wild_price - 21 * ONE // 10) <= 21 * ONE // 100
    with pytest.raises(InvalidInputError, match="low <= open"):
        runner.infer(eth_abi.encode(["uint256"] * 6, [3 * ONE, 2 * ONE, ONE, 2 * ONE, 0, 0]))
    with pytest.raises(InvalidInputError, match="low must be > 0"):
        runner.infer(eth_abi.encode(["uint256"] * 6, [0] * 6))


def test_risk_model_stages_chain_to_the_whole_model(small_dir):
    whole = load_model("risk-model", small_dir)
    first, second = load_model("risk-model", small_dir, stage=0), load_model("risk-model", small_dir, stage=1)
    for text in ("Update the FAQ about staking rewards", "Mint unlimited tokens to the founder and remove the timelock",
                 "ünïcode ✓ proposal", "!!!"):
        hidden = first.infer(text.encode())
        answer = second.infer(hidden)
        assert answer == whole.infer(text.encode())
        (risk,) = eth_abi.decode(["uint256"], answer)
        assert 0 <= risk <= 100
    routine, drain = (eth_abi.decode(["uint256"], whole.infer(t.encode()))[0] for t in
                      ("Translate the handbook into Spanish",
                       "Transfer the entire treasury to an anonymous address and disable the pause guardian"))
    assert routine < 50 < drain
    with pytest.raises(InvalidInputError, match="UTF-8"):
        whole.infer(b"\xff\xfe")
    with pytest.raises(InvalidInputError, match="1..4096 bytes"):
        whole.infer(b"")
    import torch

    from models.tensorio import encode_tensor

    with pytest.raises(InvalidInputError, match=r"float32 \[1, 32\]"):
        second.infer(encode_tensor(torch.zeros(1, 16)))  # a stage-1 input of the wrong shape fails cleanly
    with pytest.raises(InvalidInputError, match="NaN"):
        second.infer(encode_tensor(torch.full((1, 32), float("nan"))))
    with pytest.raises(InvalidInputError, match="AIVT"):
        second.infer(first.infer(b"x") + b"\x00")
    with pytest.raises(UnknownModelError, match="stages 0..1"):
        load_model("risk-model", small_dir, stage=2)


def test_node_recomputes_the_commitments_validators_sign(small_dir):
    from ai.commitments import commitment, validate_request

    cases = {"price-v1": eth_abi.encode(["uint256[16]"], [[ONE + i for i in range(16)]]),
             "mm-v1": eth_abi.encode(["uint256"] * 6, [ONE, ONE, ONE, ONE, 0, 0]),
             "risk-model": b"Adopt a code of conduct"}
    for model_id, data in cases.items():
        validate_request(model_id, data)
        info = MODELS[model_id]
        for stage in range(info.num_stages):
            runner = load_model(model_id, small_dir, stage=stage)
            out = runner.infer(data)
            assert runner.commitment(out) == commitment(model_id, stage, out)
            lie = small.wrong(info, stage, out)
            assert lie != out and commitment(model_id, stage, lie) != commitment(model_id, stage, out)
            data = out
    with pytest.raises(InvalidInputError):
        validate_request("price-v1", b"\x01" * 31)
    with pytest.raises(InvalidInputError, match="0..100"):
        commitment("risk-model", 1, eth_abi.encode(["uint256"], [101]))


def test_validators_install_the_shipped_weights(small_dir, tmp_path, monkeypatch):
    for info in SMALL:
        shipped = small.shipped_dir(info)
        assert Manifest.load(shipped / small.MANIFEST).root == info.reference_root
        assert get_manifest(info.model_id, small_dir).root == info.reference_root
        for shard in get_manifest(info.model_id, small_dir).shards:
            assert (small_dir / info.model_id / "v1" / shard.name).read_bytes() == (shipped / shard.name).read_bytes()
    # a build this host trained (an older release did that) is not trusted: the shipped bytes replace it
    stale = small.train(MARKET, tmp_path / "stale")
    shard = stale / small.shard_name(MARKET, 0)
    shard.write_bytes(shard.read_bytes()[:-4] + b"\x00\x00\x80\x3f")
    small.build_manifest(MARKET, stale, {}).save(stale / small.MANIFEST)
    assert get_manifest("mm-v1", tmp_path / "stale").root == MARKET.reference_root
    # shipped files that do not hash to their manifest (or a manifest that is not the catalog's) are refused
    fake = tmp_path / "shipped"
    shutil.copytree(small.SHIPPED / RISK.model_id, fake / RISK.model_id)
    monkeypatch.setattr(small, "SHIPPED", fake)
    shard = fake / RISK.model_id / "v1" / small.shard_name(RISK, 1)
    shard.write_bytes(shard.read_bytes()[:-1] + bytes([shard.read_bytes()[-1] ^ 1]))
    with pytest.raises(ShardIntegrityError, match="refusing to load tampered shard"):
        small.ensure(RISK, tmp_path / "fresh")
    assert not (tmp_path / "fresh" / RISK.model_id / "v1").exists()  # nothing half-installed
    small.build_manifest(RISK, fake / RISK.model_id / "v1", {}).save(fake / RISK.model_id / "v1" / small.MANIFEST)
    with pytest.raises(ShardIntegrityError, match="is not the catalog's"):
        small.ensure(RISK, tmp_path / "fresh")


def test_training_reproduces_the_shipped_weights(tmp_path):
    """Seeded training from the shipped data gives the shipped model: equal bytes, or (MKL rounding by memory
    alignment and CPU) every weight within float rounding and every held-out figure unchanged."""
    for info in (PRICE, MARKET):  # seconds each; risk-model's build is covered by the same code path
        rebuilt = small.train(info, tmp_path)
        diff = small.compare_with_shipped(info, rebuilt)
        assert diff["identical"] or diff["max_weight_diff"] <= small.REBUILD_WEIGHT_TOLERANCE, (info.model_id, diff)
        assert diff["moved_metrics"] == [], (info.model_id, diff)
        figures = json.loads((rebuilt / small.METRICS).read_text())
        assert figures["seed"] == 0 and figures["test_samples"] > 1500
    assert figures["test_range_mae_pct"] < figures["persistence_range_mae_pct"]


def test_a_rebuild_that_is_another_model_is_told_apart(tmp_path):
    """The reproduction check can fail: a rebuild whose weights moved is reported as such."""
    import torch
    from safetensors.torch import load_file, save_file

    rebuilt = tmp_path / "price"
    shutil.copytree(small.shipped_dir(PRICE), rebuilt)
    assert small.compare_with_shipped(PRICE, rebuilt) == {"identical": True, "max_weight_diff": 0.0, "moved_metrics": []}
    shard = rebuilt / small.shard_name(PRICE, 0)
    tensors = load_file(str(shard))
    name = sorted(tensors)[0]
    tensors[name] = tensors[name] + torch.full_like(tensors[name], 1e-3)
    save_file(tensors, str(shard))
    diff = small.compare_with_shipped(PRICE, rebuilt)
    assert not diff["identical"] and diff["max_weight_diff"] > small.REBUILD_WEIGHT_TOLERANCE


def test_a_tampered_shard_is_refused(small_dir, tmp_path):
    src = small_dir / RISK.model_id
    shutil.copytree(src, tmp_path / RISK.model_id)
    shard = tmp_path / RISK.model_id / "v1" / small.shard_name(RISK, 1)
    data = bytearray(shard.read_bytes())
    data[-1] ^= 1
    shard.write_bytes(bytes(data))
    load_model("risk-model", tmp_path, stage=0)  # the untouched stage still loads
    with pytest.raises(ShardIntegrityError, match="refusing to load tampered shard"):
        load_model("risk-model", tmp_path, stage=1)
    registered = get_manifest("risk-model", small_dir).to_dict()
    with pytest.raises(ShardIntegrityError, match="is for price-v1"):
        load_model("risk-model", small_dir, manifest=get_manifest("price-v1", small_dir).to_dict())
    assert load_model("risk-model", small_dir, manifest=registered).infer(b"ok")


PROBE = """
import hashlib, json, sys
import torch
torch.set_num_threads(int(sys.argv[2]))
import eth_abi
from models import load_model
from models import market, price, risk
cache = sys.argv[1]
digest, n = hashlib.sha256(), 0
x, _, last, _ = price.dataset()["test"]
runner = load_model("price-v1", cache)
for i in range(0, len(x), 10):  # rebuild each window's prices from its returns: any positive window will do
    prices = [10**20]
    for r in x[i]:
        prices.append(max(1, int(prices[-1] * (1 + r / 100))))
    digest.update(runner.infer(eth_abi.encode(["uint256[16]"], [prices]))); n += 1
runner = load_model("mm-v1", cache)
for bar in market.marketdata.bars("sp500")[-300:]:
    wei = [int(round(v * 10**6)) * 10**12 for v in (bar.open, bar.high, bar.low, bar.close)]
    digest.update(runner.infer(eth_abi.encode(["uint256"] * 6, wei + [int(bar.volume), int(bar.volume)]))); n += 1
first, second = load_model("risk-model", cache, stage=0), load_model("risk-model", cache, stage=1)
for text in risk.load_data()[0]:
    hidden = first.infer(text.encode())
    digest.update(first.commitment(hidden) + second.infer(hidden)); n += 1
print(json.dumps({"threads": torch.get_num_threads(), "answers": n, "digest": digest.hexdigest()}))
"""


def test_answers_are_identical_across_thread_counts(small_dir):
    import subprocess
    import sys

    seen = []
    # both at once: each sets its thread count, so sharing the cores changes the time, not the answers
    procs = [subprocess.Popen([sys.executable, "-c", PROBE, str(small_dir), str(threads)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
             for threads in (1, 2)]
    for proc in procs:
        out, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err[-2000:]
        seen.append(json.loads(out.strip().splitlines()[-1]))
    assert [s["threads"] for s in seen] == [1, 2] and seen[0]["answers"] > 600
    assert seen[0]["digest"] == seen[1]["digest"]
