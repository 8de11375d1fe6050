"""The Docker path: what the image leaves out, and a compose file that matches the README.

There is no Docker engine (nor compose) where the tests run, and PyYAML is not a dependency,
so the compose file is read by the small block-YAML reader below (mappings, lists, scalars:
all that file uses), and the README's `docker compose` commands are checked against it and
against the management commands' own argument parsers.
"""

import re
import shlex
from pathlib import Path

from django.core.management import get_commands, load_command_class

ROOT = Path(__file__).resolve().parent.parent


def read_block_yaml(text: str):
    """Block-style YAML (nested mappings and `- item` lists of scalars) as dicts and lists.

    Flow collections (`[a, b]`) are kept as their text; comments and blank lines are ignored.
    """
    lines = []
    for raw in text.splitlines():
        line = re.sub(r"\s+#.*$", "", raw) if not raw.lstrip().startswith("#") else ""
        if line.strip():
            lines.append((len(line) - len(line.lstrip()), line.strip()))

    def scalar(value: str):
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            return value[1:-1]
        return value

    def block(index: int, indent: int):
        if lines[index][1].startswith("- "):
            items = []
            while index < len(lines) and lines[index][0] == indent:
                items.append(scalar(lines[index][1][2:]))
                index += 1
            return items, index
        mapping = {}
        while index < len(lines) and lines[index][0] == indent:
            key, _, value = lines[index][1].partition(":")
            index += 1
            if value.strip():
                mapping[scalar(key)] = scalar(value)
            elif index < len(lines) and lines[index][0] > indent:
                mapping[scalar(key)], index = block(index, lines[index][0])
            else:
                mapping[scalar(key)] = None
        return mapping, index

    parsed, _ = block(0, 0)
    return parsed


COMPOSE = read_block_yaml((ROOT / "docker-compose.yml").read_text())


def readme_docker_commands() -> list[list[str]]:
    """The `docker compose ...` lines of the README's Docker section, as argument lists."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("\n## Docker\n") :]
    section = section[: section.index("\n## ", 1)]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    commands = []
    for block in blocks:
        for line in block.splitlines():
            line = line.split("#", 1)[0].strip()
            if line.startswith("docker compose "):
                commands.append(shlex.split(line))
    return commands


def test_the_image_leaves_out_the_virtualenv_the_cluster_git_caches_and_secrets():
    patterns = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }

    assert {".venv", ".pgdata", ".git"} <= patterns
    assert {"**/__pycache__", "**/*.pyc", ".pytest_cache", ".ruff_cache"} <= patterns
    assert {".env", ".env.*", "*.pem", "*.key"} <= patterns
    assert "requirements.lock" not in patterns  # the image installs from it


def test_the_compose_file_has_the_database_and_the_tool():
    services = COMPOSE["services"]

    assert set(services) == {"db", "web"}
    assert services["db"]["image"] == "postgres:15"
    # the mount's connection starts in the db container: it must reach the Docker host
    assert "host.docker.internal:host-gateway" in services["db"]["extra_hosts"]
    web = services["web"]
    assert web["build"] == "."
    assert web["depends_on"]["db"]["condition"] == "service_healthy"
    environment = web["environment"]
    assert environment["DATABASE_URL"] == (
        "${MITXONLINE_DATABASE_URL:-postgres://postgres:postgres@db:5432/mitxonline}"
    )
    assert environment["MITXONLINE_TARGET"] == "${MITXONLINE_TARGET:-standins}"
    # the source's password comes from the environment, never from the file
    assert environment["MICROMASTERS_DATABASE_URL"] == "${MICROMASTERS_DATABASE_URL:-}"
    assert web["command"] == "./manage.py runserver 0.0.0.0:8000"


def test_the_readme_walks_the_whole_path_with_services_and_options_that_exist():
    commands = readme_docker_commands()
    services = COMPOSE["services"]
    known = get_commands()
    run = [args for args in commands if args[2] == "run"]

    for args in run:
        assert args[:5] == ["docker", "compose", "run", "--rm", "web"], args
        assert args[5] == "./manage.py", args
        name, options = args[6], args[7:]
        assert name in known, name
        # the command's own parser accepts the options exactly as the README writes them
        load_command_class(known[name], name).create_parser("manage.py", name).parse_args(options)
    for args in commands:
        assert set(args) & set(services), args
    path = [" ".join(args[6:]) for args in run]
    # migrate, mount, an admin login, mappings, the plan, a dry run, the run, the report
    assert path[:3] == ["migrate", "setup_micromasters_fdw", "createsuperuser"]
    assert "suggest_micromasters_mappings --apply" in path
    assert "import_micromasters_data --all --dry-run --noinput" in path
    assert path.index("import_micromasters_data --all --noinput") == len(path) - 2
    assert path[-1] == "micromasters_import_report"
    assert ["docker", "compose", "up", "-d", "web"] in commands


def test_the_block_yaml_reader_reads_what_the_compose_file_uses():
    text = "a:\n  b: 'x'\n  c:\n    - \"1\"\n    - 2  # two\n  d: [e, f]\n# note\ng:\nh: ${X:-y}\n"

    assert read_block_yaml(text) == {
        "a": {"b": "x", "c": ["1", "2"], "d": "[e, f]"},
        "g": None,
        "h": "${X:-y}",
    }
