"""`./manage.py` as the README writes it: it finds the project's virtualenv on its own."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SYSTEM_PATH = "/usr/bin:/bin"


def system_python_without_django() -> str | None:
    python = shutil.which("python3", path=SYSTEM_PATH)
    if python is None:
        return None
    probe = subprocess.run([python, "-c", "import django"], capture_output=True, check=False)
    return python if probe.returncode else None


def test_manage_py_runs_under_the_virtualenv_when_the_first_python_lacks_django():
    if system_python_without_django() is None:
        pytest.skip("needs a system python3 without Django on /usr/bin:/bin")
    environment = {"PATH": SYSTEM_PATH, "HOME": os.environ.get("HOME", "/tmp")}

    result = subprocess.run(
        ["./manage.py", "help", "import_micromasters_data"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: manage.py import_micromasters_data")


def test_without_a_virtualenv_it_says_what_to_run(tmp_path):
    python = system_python_without_django()
    if python is None:
        pytest.skip("needs a system python3 without Django on /usr/bin:/bin")
    shutil.copy(ROOT / "manage.py", tmp_path / "manage.py")  # a checkout with no .venv yet

    result = subprocess.run(
        [python, "manage.py", "migrate"],
        cwd=tmp_path,
        env={"PATH": SYSTEM_PATH},
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 1
    assert result.stderr.strip() == (
        "manage.py: Django is not installed for this Python; run scripts/bootstrap, then "
        "`. .venv/bin/activate` (or `.venv/bin/python manage.py ...`)."
    )
