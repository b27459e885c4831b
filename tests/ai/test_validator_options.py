"""`aivm validator`'s tuning options refuse bad values with a clear message, before anything starts."""
import subprocess
import sys

import pytest

from ai.validator import local


@pytest.mark.parametrize("args, message", [
    (("--defer-checks", "-1"), "'--defer-checks': -1.0 is not in the range x>=0"),
    (("--defer-checks", "soon"), "'--defer-checks': 'soon' is not a valid float"),
    (("--decode-threads", "-2"), "'--decode-threads': -2 is not in the range x>=0"),
    (("--decode-threads", "two"), "'--decode-threads': 'two' is not a valid integer"),
])
def test_bad_values_are_refused_by_name(tmp_path, args, message):
    v = local.prepare(tmp_path, 1)[0]
    out = subprocess.run([sys.executable, "-m", "app.cli", "validator", "--rpc", "http://127.0.0.1:9",
                          "--keystore", str(v.keystore_path), "--password-file", str(v.password_path), *args],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2, out
    assert message in out.stderr and "Traceback" not in out.stderr
