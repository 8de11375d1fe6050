#!/usr/bin/env python3
"""A private PostgreSQL 15 cluster for development, tests and the demo, with no Docker.

Newcomers should not have to install, configure or share a database server to try the tool,
so this script keeps a cluster inside the project folder (`.pgdata/`, ignored by git) on its
own port. It only uses the standard library, because it runs before the virtualenv exists.

`initdb` and `pg_ctl` refuse to run as root, so when run as root the cluster belongs to the
`postgres` system user and every server command is run through `runuser`.

Usage:
    scripts/localpg.py start            # initdb if needed, start (or reuse) the server
    scripts/localpg.py stop             # stop it cleanly
    scripts/localpg.py status
    scripts/localpg.py createdb NAME    # create a database if it does not exist
    scripts/localpg.py dropdb NAME      # drop a database (the private cluster's are disposable)
    scripts/localpg.py url [NAME]       # print the connection URL of a database

The superuser is always `postgres` and connects without a password over 127.0.0.1; every
other role must use a password (scram-sha-256), which lets tests exercise real password
checks, as the postgres_fdw mount does in production.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import os
import pwd
import shutil
import subprocess
import sys
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
PORT = int(os.environ.get("LOCALPG_PORT", "54329"))
HOST = "127.0.0.1"
SUPERUSER = "postgres"
SERVER_USER = "postgres"  # the system account that owns the cluster when we run as root


def bindir() -> Path:
    """Find the PostgreSQL server binaries, preferring version 15 as production uses."""
    override = os.environ.get("PG_BINDIR")
    if override:
        return Path(override)
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key)
    preferred = [c for c in candidates if "/15/" in c]
    found = preferred or candidates[-1:]
    if not found:
        on_path = shutil.which("pg_ctl")
        if on_path:
            return Path(on_path).parent
        sys.exit("localpg: no PostgreSQL server binaries found (install postgresql-15).")
    return Path(found[0])


def _version_key(path: str) -> int:
    part = path.split("/")[-2]
    return int(part) if part.isdigit() else 0


def is_root() -> bool:
    """Whether server commands must be delegated to the postgres system account."""
    return os.geteuid() == 0


def _can_reach(user: str, path: Path) -> bool:
    """Whether `user` can traverse into `path` (root's home is often closed to others)."""
    result = subprocess.run(
        ["runuser", "-u", user, "--", "test", "-x", str(path)], capture_output=True
    )
    return result.returncode == 0


def data_dir() -> Path:
    """The cluster directory: inside the project, unless the server account cannot reach it."""
    override = os.environ.get("LOCALPG_DATA")
    if override:
        return Path(override)
    inside = PROJECT_DIR / ".pgdata"
    if is_root() and not _can_reach(SERVER_USER, PROJECT_DIR):
        digest = hashlib.sha1(str(PROJECT_DIR).encode()).hexdigest()[:10]
        return Path("/tmp") / f"localpg-{digest}"
    return inside


def run_as_server(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    """Run a server binary as the account that owns the cluster."""
    if is_root():
        args = ["runuser", "-u", SERVER_USER, "--", *args]
    return subprocess.run(args, **kwargs)


def url(dbname: str = "postgres") -> str:
    """The connection URL of one database of the local cluster."""
    return f"postgres://{SUPERUSER}@{HOST}:{PORT}/{dbname}"


def _pgdata() -> Path:
    return data_dir() / "cluster"


def initdb() -> None:
    """Create the cluster once, owned by the right account, with our authentication rules."""
    root = data_dir()
    pgdata = _pgdata()
    if (pgdata / "PG_VERSION").exists():
        return
    root.mkdir(parents=True, exist_ok=True)
    if is_root():
        entry = pwd.getpwnam(SERVER_USER)
        os.chown(root, entry.pw_uid, entry.pw_gid)
    result = run_as_server(
        [
            str(bindir() / "initdb"),
            "-D",
            str(pgdata),
            "-U",
            SUPERUSER,
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C",
        ],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        sys.exit(f"localpg: initdb failed: {result.stderr.strip()}")
    hba = "\n".join(
        [
            "# Written by scripts/localpg.py: the superuser is trusted on loopback,",
            "# every other role needs its password.",
            f"host all {SUPERUSER} 127.0.0.1/32 trust",
            f"host all {SUPERUSER} ::1/128 trust",
            "host all all 127.0.0.1/32 scram-sha-256",
            "host all all ::1/128 scram-sha-256",
            "",
        ]
    )
    conf = "\n".join(
        [
            "# Written by scripts/localpg.py",
            f"port = {PORT}",
            f"listen_addresses = '{HOST}'",
            "unix_socket_directories = ''",
            "shared_buffers = 256MB",
            "max_connections = 100",
            "",
        ]
    )
    _write_as_server(pgdata / "pg_hba.conf", hba)
    _write_as_server(pgdata / "postgresql.auto.conf", conf)


def _write_as_server(path: Path, text: str) -> None:
    run_as_server(["tee", str(path)], input=text, text=True, stdout=subprocess.DEVNULL, check=True)


def is_running() -> bool:
    """Whether our cluster's server answers."""
    result = run_as_server(
        [str(bindir() / "pg_ctl"), "status", "-D", str(_pgdata())], capture_output=True
    )
    return result.returncode == 0


def start() -> None:
    """Start the server unless it already runs; wait until it accepts connections."""
    initdb()
    if is_running():
        return
    log = data_dir() / "server.log"
    result = run_as_server(
        [str(bindir() / "pg_ctl"), "start", "-w", "-t", "60", "-D", str(_pgdata()), "-l", str(log)],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        tail = ""
        if log.exists():
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-5:])
        sys.exit(f"localpg: the server did not start on port {PORT}.\n{tail}")
    for _ in range(60):
        if psql("postgres", "SELECT 1", check=False).returncode == 0:
            return
        time.sleep(0.5)
    sys.exit("localpg: the server started but does not accept connections.")


def stop() -> None:
    """Stop the server cleanly (fast shutdown: sessions are ended, data is safe)."""
    if not (_pgdata() / "PG_VERSION").exists() or not is_running():
        return
    run_as_server(
        [str(bindir() / "pg_ctl"), "stop", "-w", "-m", "fast", "-D", str(_pgdata())],
        capture_output=True,
        check=True,
    )


def psql(dbname: str, sql: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run one SQL command as the superuser over TCP."""
    return subprocess.run(
        [
            str(bindir() / "psql"),
            "-X",
            "-q",
            "-t",
            "-A",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            sql,
            url(dbname),
        ],
        capture_output=True,
        text=True,
        check=check,
    )


def createdb(name: str) -> None:
    """Create a database unless it exists, so that scripts can call this every time."""
    exists = psql("postgres", f"SELECT 1 FROM pg_database WHERE datname = '{name}'").stdout.strip()
    if not exists:
        psql("postgres", f'CREATE DATABASE "{name}"')


def dropdb(name: str) -> None:
    """Drop a database of the private cluster, whoever is connected (it is disposable)."""
    psql("postgres", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("start", help="create the cluster if needed and start it")
    sub.add_parser("stop", help="stop the server")
    sub.add_parser("status", help="say whether the server runs, and where")
    create = sub.add_parser("createdb", help="create a database if it does not exist")
    create.add_argument("name")
    drop = sub.add_parser("dropdb", help="drop a database of the private cluster")
    drop.add_argument("name")
    show = sub.add_parser("url", help="print the URL of a database")
    show.add_argument("name", nargs="?", default="postgres")
    args = parser.parse_args()

    if args.command == "start":
        start()
        print(f"localpg: running on {HOST}:{PORT} (data in {_pgdata()})")
    elif args.command == "stop":
        stop()
        print("localpg: stopped")
    elif args.command == "status":
        state = "running" if is_running() else "stopped"
        print(f"localpg: {state} on {HOST}:{PORT} (data in {_pgdata()})")
    elif args.command == "createdb":
        createdb(args.name)
    elif args.command == "dropdb":
        dropdb(args.name)
    elif args.command == "url":
        print(url(args.name))


if __name__ == "__main__":
    main()
