"""The npm `openai` client in tests/js/node_modules (the Makefile's test-tools step installs it; this is the fallback)."""
import shutil
import subprocess
from pathlib import Path

JS = Path(__file__).resolve().parents[1] / "js"


def ensure_js_openai() -> None:
    if (JS / "node_modules" / "openai" / "package.json").exists():
        return
    npm = shutil.which("npm")
    assert npm, "npm is not on PATH: the Makefile's test-tools step installs the JS clients"
    res = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=JS, capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 0, f"npm ci in tests/js failed:\n{res.stderr[-2000:]}"
