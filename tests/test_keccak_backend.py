"""keccak, py-evm's hottest function, runs on pysha3 once `vm` is imported — even when
something hashed first and so fixed eth-hash's shared hasher on pycryptodome."""
import os
import subprocess
import sys

SCRIPT = r"""
import os, random
from eth_hash.auto import keccak
from eth_hash.backends import pycryptodome
from eth_hash.main import Keccak256
keccak(b"first")                      # eth-hash picks its backend now (pycryptodome first)
before = type(keccak.hasher.__self__).__name__
import vm                             # noqa: F401
after = type(keccak.hasher.__self__).__name__
ref = Keccak256(pycryptodome)
rng = random.Random(7)
for n in list(range(0, 300)) + [1000, 4096, 100_000]:
    data = bytes(rng.getrandbits(8) for _ in range(n))
    assert keccak(data) == ref(data), n
    assert keccak.new(data).digest() == ref.new(data).digest(), n
print(before, after)
"""


def run(env_extra: dict) -> str:
    env = {k: v for k, v in os.environ.items() if k != "ETH_HASH_BACKEND"} | env_extra
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def test_vm_import_switches_an_already_chosen_hasher_to_pysha3():
    before, after = run({})
    assert before == "CryptodomeBackend"
    assert after == "PySha3Backend"


def test_an_explicit_backend_choice_is_kept():
    before, after = run({"ETH_HASH_BACKEND": "pycryptodome"})
    assert before == after == "CryptodomeBackend"
