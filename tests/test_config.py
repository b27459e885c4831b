"""config/aivm-config.toml: the guide's keys, one clear line per mistake."""
import subprocess
import sys
from pathlib import Path

import pytest

from vm import config

GUIDE_EXAMPLE = '''
[aivm]
enabled = true
model_endpoint = "http://localhost:8000"
max_gas_per_execution = 1000000
enable_ai_chat = true

[ai_models]
gpt_oss_endpoint = "http://localhost:8000"
max_tokens = 2048
temperature = 0.7

[interoperability]
supported_chains = ["ethereum", "polygon", "solana"]
bridge_enabled = true
cross_chain_gas_limit = 1000000
'''


def write(tmp_path, text):
    p = tmp_path / "aivm-config.toml"
    p.write_text(text)
    return p


def test_guide_example_loads(tmp_path):
    cfg = config.load(write(tmp_path, GUIDE_EXAMPLE))
    assert cfg.aivm.max_gas_per_execution == 1_000_000
    assert cfg.ai_models.temperature == 0.7
    assert cfg.interoperability.supported_chains == ["ethereum", "polygon", "solana"]
    assert cfg.node.host == "127.0.0.1" and cfg.node.port == 8545


def test_missing_file_means_defaults(tmp_path):
    assert config.load(tmp_path / "nope.toml") == config.Config()
    with pytest.raises(config.ConfigError, match="file not found"):
        config.load(tmp_path / "nope.toml", explicit=True)


@pytest.mark.parametrize("text,words", [
    ("[aivm]\nenabld = true\n", "[aivm] enabld: unknown key"),
    ("[aivm]\nmax_gas_per_execution = 'lots'\n", "[aivm] max_gas_per_execution: expected an integer, got 'lots'"),
    ("[aivm]\nmax_gas_per_execution = 5\n", "[aivm] max_gas_per_execution: input should be greater than or equal to 21000"),
    ("[ai_models]\ntemperature = 9.0\n", "[ai_models] temperature"),
    ("[ai_models]\nmodel_endpoint = 'x'\n", "[ai_models] model_endpoint: unknown key"),
    ("[aivm]\nmodel_endpoint = 'localhost'\n", "expected an http(s) URL"),
    ("[node]\nport = 70000\n", "[node] port"),
    ("[interoperability]\nbridge_enabled = 'yes'\n", "[interoperability] bridge_enabled: expected true or false"),
    ("[mystery]\nx = 1\n", "[mystery]: unknown key"),
    ("[aivm\n", "invalid TOML"),
])
def test_bad_config_is_one_clear_line(tmp_path, text, words):
    p = write(tmp_path, text)
    with pytest.raises(config.ConfigError) as e:
        config.load(p)
    msg = str(e.value)
    assert msg.startswith(str(p) + ": ") and "\n" not in msg
    assert words in msg


def test_cli_flags_override_file(tmp_path):
    cfg = config.load(write(tmp_path, "[node]\nport = 9000\nhost = '127.0.0.1'\n"))
    cfg = config.with_overrides(cfg, port=9100, host=None)
    assert cfg.node.port == 9100 and cfg.node.host == "127.0.0.1"
    with pytest.raises(config.ConfigError, match="command line"):
        config.with_overrides(cfg, port=-1)


def test_start_refuses_bad_config_with_one_line(tmp_path):
    p = write(tmp_path, "[aivm]\nenabled = 3\n")
    out = subprocess.run([sys.executable, "-m", "app.cli", "start", "--config", str(p), "--ephemeral"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "[aivm] enabled: expected true or false, got 3" in out.stderr
    assert "Traceback" not in out.stderr


def test_shipped_example_is_valid():
    example = Path(__file__).resolve().parent.parent / "config" / "aivm-config.toml.example"
    assert config.load(example, explicit=True) == config.Config()
