"""docs/testing.md, followed from an empty folder: every file it shows is written as shown, then its pytest run.

The install step is the one thing not repeated here (this suite already runs in
an environment made by `make install`, the same commands the page gives).
"""
import re
import subprocess
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "testing.md"
TARGET = re.compile(r"`([\w./-]+\.(?:synq|py|ini))`:$")


def tutorial_files(text: str) -> dict[str, str]:
    """Code blocks whose paragraph ends with "`path`:" create that file; "Add to `path`:" appends to it."""
    files: dict[str, str] = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        if lines[i].startswith("```") and lines[i].strip() != "```":
            before = [ln.strip() for ln in lines[max(0, i - 3):i] if ln.strip()]
            end = i + 1
            while not lines[end].startswith("```"):
                end += 1
            body = "\n".join(lines[i + 1:end]) + "\n"
            if before and (m := TARGET.search(before[-1])):
                path = m.group(1)
                appending = "Add to" in " ".join(before[-2:])
                files[path] = (files[path] + "\n\n" + body) if appending else body
            i = end
        i += 1
    return files


def test_the_testing_tutorial_works_as_written(tmp_path):
    files = tutorial_files(DOC.read_text())
    assert {"contracts/DigitOracle.synq", "tests/test_oracle.py", "tests/test_oracle_ai.py", "pytest.ini"} <= set(files)
    for path, body in files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(body)
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=600)
    claimed = re.search(r"\n(\d+) passed\n```", DOC.read_text())
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert f"{claimed.group(1)} passed" in out.stdout, out.stdout[-2000:]
