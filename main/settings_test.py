"""Settings read in a fresh interpreter, as `./manage.py` would with a given environment."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHOW_DATABASE = (
    "import json, django; django.setup(); from django.conf import settings; "
    "d = settings.DATABASES['default']; print(json.dumps([d['HOST'], d['PORT'], d['NAME']]))"
)


def database_with(**env) -> list:
    """The default database's host, port and name, with this environment and no DATABASE_URL."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "LOCALPG_PORT")
    }
    environment.update(env, DJANGO_SETTINGS_MODULE="main.settings")
    result = subprocess.run(
        [sys.executable, "-c", SHOW_DATABASE],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout)


def test_without_database_url_the_private_cluster_is_used_on_its_default_port():
    assert database_with() == ["127.0.0.1", 54329, "mitxonline"]


def test_the_private_clusters_port_follows_localpg_port():
    assert database_with(LOCALPG_PORT="55432") == ["127.0.0.1", 55432, "mitxonline"]


def test_database_url_wins_over_localpg_port():
    url = "postgres://someone@db.example.org:6543/elsewhere"
    assert database_with(DATABASE_URL=url, LOCALPG_PORT="55432") == [
        "db.example.org",
        6543,
        "elsewhere",
    ]


def test_a_localpg_port_that_is_not_a_number_is_refused():
    with pytest.raises(subprocess.CalledProcessError) as error:
        database_with(LOCALPG_PORT="not-a-port")
    assert "LOCALPG_PORT" in error.value.stderr
