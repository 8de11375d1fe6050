#!/usr/bin/env python
"""Benchmark the whole migration: the shipped tool over postgres_fdw against the floor.

Operators need to know how long the real migration takes before they open a maintenance
window, and whether the tool is close to what PostgreSQL itself can do. This script builds a
MicroMasters-shaped source at a chosen scale with the demo generator, then times
`import_micromasters_data --all --noinput` in several setups on the same data, each in a
fresh copy of the same MITx Online database:

  shipped  the tool as shipped, over postgres_fdw (setup_micromasters_fdw defaults)
  floor    the same steps with the source as plain local tables in the target database
  naive    the mount with postgres_fdw defaults (fetch_size 100, no remote estimates)
  shipped+latency / naive+latency (with --latency-ms): the source behind a TCP proxy
           that delays every packet, as when the two databases sit on different hosts

It prints a table per setup (each step's rows and seconds, the total, rows per second, the
peak memory of the command process), the ratios shipped/floor and naive/shipped, and the
time of a second `--all` run; and writes the same as JSON. Run it with the project's
virtualenv: `.venv/bin/python bench/run.py --users 20000`.
"""

import argparse
import json
import os
import re
import secrets
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from bench.latency_proxy import LatencyProxy  # noqa: E402

READER = "bench_reader"


def admin_url() -> str:
    """A superuser URL on the server to benchmark: DATABASE_URL's server, or the local one."""
    url = os.environ.get("BENCH_ADMIN_URL") or os.environ.get("DATABASE_URL")
    if not url:
        out = subprocess.run(
            [sys.executable, str(PROJECT / "scripts" / "localpg.py"), "url", "postgres"],
            capture_output=True,
            text=True,
            check=True,
        )
        url = out.stdout.strip()
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/postgres"))


def with_database(url: str, name: str, user: str | None = None, password: str | None = None):
    """The same server, another database (and optionally another role)."""
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    if user:
        netloc = f"{user}:{password}@{netloc}" if password else f"{user}@{netloc}"
    else:
        netloc = parts.netloc
    return urlunsplit(parts._replace(netloc=netloc, path=f"/{name}"))


def with_port(url: str, port: int) -> str:
    """The same URL through another port (the latency proxy)."""
    parts = urlsplit(url)
    userinfo, _, hostport = parts.netloc.rpartition("@")
    host = hostport.rsplit(":", 1)[0]
    netloc = f"{userinfo}@{host}:{port}" if userinfo else f"{host}:{port}"
    return urlunsplit(parts._replace(netloc=netloc))


def execute(url: str, *statements) -> None:
    """Run statements in autocommit (CREATE DATABASE cannot run in a transaction)."""
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def manage(database_url: str, *args, source_url: str | None = None, quiet=True):
    """Run a management command against one target database; return (seconds, output, rusage)."""
    env = dict(os.environ, DATABASE_URL=database_url)
    if source_url:
        env["MICROMASTERS_DATABASE_URL"] = source_url
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, str(PROJECT / "manage.py"), *args],
        env=env,
        cwd=PROJECT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.monotonic() - started
    if process.returncode != 0:
        sys.exit(f"bench: `manage.py {' '.join(args)}` failed:\n{output}")
    if not quiet:
        print(output)
    return seconds, output, usage


def recreate_database(admin: str, name: str, template: str | None = None) -> None:
    """A fresh database, optionally a copy of a template."""
    execute(
        admin,
        sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)),
        sql.SQL("CREATE DATABASE {}{}").format(
            sql.Identifier(name),
            sql.SQL(" TEMPLATE {}").format(sql.Identifier(template)) if template else sql.SQL(""),
        ),
    )


def ensure_reader(admin: str, source_db: str, password: str) -> None:
    """A password-protected read-only role on the source, as production would give us."""
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [READER]).fetchone()
        verb = "ALTER" if exists else "CREATE"
        conn.execute(
            sql.SQL("{} ROLE {} LOGIN PASSWORD {}").format(
                sql.SQL(verb), sql.Identifier(READER), sql.Literal(password)
            )
        )
    with psycopg.connect(with_database(admin, source_db), autocommit=True) as conn:
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(sql.Identifier(READER)))
        conn.execute(
            sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA public TO {}").format(
                sql.Identifier(READER)
            )
        )


def build(admin: str, users: int, seed: int, prefix: str) -> tuple[str, str]:
    """The source database and a migrated target template with the demo's MITx Online side."""
    source_db, template_db = f"{prefix}_source", f"{prefix}_template"
    recreate_database(admin, template_db)
    template_url = with_database(admin, template_db)
    manage(template_url, "migrate", "--noinput", "-v", "0")
    seconds, _, _ = manage(
        template_url,
        "create_micromasters_demo",
        "--users",
        str(users),
        "--seed",
        str(seed),
        "--source-database",
        source_db,
        "--replace",
    )
    # Production's tables have statistics (autovacuum keeps them); so must every copy here.
    execute(template_url, "ANALYZE")
    print(f"built the source ({users} users) and the target template in {seconds:.1f}s")
    return source_db, template_db


def copy_source_locally(target_url: str, source_url: str) -> None:
    """Make the floor: the source tables as plain, analyzed tables in schema `micromasters`."""
    manage(target_url, "setup_micromasters_fdw", "--schema", "bench_copy", source_url=source_url)
    with psycopg.connect(target_url, autocommit=True) as conn:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT foreign_table_name FROM information_schema.foreign_tables "
                "WHERE foreign_table_schema = 'bench_copy'"
            )
        ]
        conn.execute("CREATE SCHEMA micromasters")
        for table in tables:
            conn.execute(
                sql.SQL("CREATE TABLE micromasters.{t} AS SELECT * FROM bench_copy.{t}").format(
                    t=sql.Identifier(table)
                )
            )
            conn.execute(
                sql.SQL("ALTER TABLE micromasters.{} ADD PRIMARY KEY (id)").format(
                    sql.Identifier(table)
                )
            )
        conn.execute("ANALYZE")
    manage(
        target_url,
        "setup_micromasters_fdw",
        "--schema",
        "bench_copy",
        "--drop",
        source_url=source_url,
    )


STAGED = re.compile(r"Staged (\d+) MicroMasters table\(s\) locally \(([\d.]+)s\)")


def step_rows(target_url: str) -> tuple[list[dict], float]:
    """Each step of the latest run: rows inserted and seconds, read back from the ledger."""
    with psycopg.connect(target_url) as conn:
        batch = conn.execute(
            "SELECT batch FROM micromasters_import_importbatch ORDER BY id DESC LIMIT 1"
        ).fetchone()[0]
        rows = conn.execute(
            "SELECT step, name, rows_inserted, seconds, report->>'candidates' "
            "FROM micromasters_import_importrun WHERE batch = %s ORDER BY step",
            [batch],
        ).fetchall()
    return [
        {
            "step": step,
            "name": name,
            "rows": rows_inserted or 0,
            "candidates": int(candidates or 0),
            "seconds": seconds or 0.0,
        }
        for step, name, rows_inserted, seconds, candidates in rows
    ]


def run_setup(name, admin, template_db, source_url, prefix, mount_args, rerun=False) -> dict:
    """Time `--all` in a fresh copy of the template with one way of reaching the source."""
    target_db = f"{prefix}_{name.replace('+', '_')}"
    recreate_database(admin, target_db, template=template_db)
    target_url = with_database(admin, target_db)
    if mount_args is None:
        copy_source_locally(target_url, source_url)
    else:
        manage(target_url, "setup_micromasters_fdw", *mount_args, source_url=source_url)
    seconds, output, usage = manage(
        target_url, "import_micromasters_data", "--all", "--noinput", source_url=source_url
    )
    staged = STAGED.search(output)
    result = {
        "setup": name,
        "seconds": round(seconds, 3),
        "staging_seconds": float(staged.group(2)) if staged else None,
        "peak_memory_mb": round(usage.ru_maxrss / 1024, 1),
        "steps": step_rows(target_url),
    }
    result["rows"] = sum(step["rows"] for step in result["steps"])
    result["rows_per_second"] = round(result["rows"] / seconds) if seconds else None
    if rerun:
        again, _, _ = manage(
            target_url, "import_micromasters_data", "--all", "--noinput", source_url=source_url
        )
        result["rerun_seconds"] = round(again, 3)
        result["rerun_rows"] = sum(step["rows"] for step in step_rows(target_url))
    return result


def print_setup(result: dict) -> None:
    """One table per setup."""
    print(f"\n{result['setup']}")
    print(f"  {'step':<38} {'candidates':>10} {'rows':>9} {'seconds':>8}")
    for step in result["steps"]:
        label = f"{step['step']}_{step['name']}"
        print(f"  {label:<38} {step['candidates']:>10} {step['rows']:>9} {step['seconds']:>8.2f}")
    if result["staging_seconds"] is not None:
        print(f"  {'(staging the source)':<38} {'':>10} {'':>9} {result['staging_seconds']:>8.2f}")
    print(
        f"  {'total (command wall time)':<38} {'':>10} {result['rows']:>9} "
        f"{result['seconds']:>8.2f}"
    )
    print(
        f"  rows/s {result['rows_per_second']}, peak memory of the command "
        f"{result['peak_memory_mb']} MB"
    )
    if "rerun_seconds" in result:
        share = result["rerun_seconds"] / result["seconds"] * 100
        print(
            f"  second --all run: {result['rerun_seconds']:.2f}s ({share:.0f}% of the first), "
            f"{result['rerun_rows']} rows"
        )


def main() -> None:
    """Build, run every setup, print, write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=20000, help="scale (reference: 200000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--setups", default="shipped,floor,naive", help="comma-separated: shipped,floor,naive"
    )
    parser.add_argument(
        "--latency-ms",
        type=float,
        default=0.0,
        help="also run shipped and naive through a proxy adding this round-trip delay",
    )
    parser.add_argument("--json", type=Path, default=PROJECT / "bench" / "results" / "latest.json")
    parser.add_argument("--prefix", default="bench")
    args = parser.parse_args()

    admin = admin_url()
    source_db, template_db = build(admin, args.users, args.seed, args.prefix)
    password = os.environ.get("BENCH_READER_PASSWORD") or secrets.token_urlsafe(16)
    ensure_reader(admin, source_db, password)
    source_url = with_database(admin, source_db, user=READER, password=password)

    setups = {
        "shipped": [],
        "floor": None,
        "naive": ["--fetch-size", "100", "--no-remote-estimate"],
    }
    results = []
    for name in args.setups.split(","):
        print(f"running {name} ...", flush=True)
        results.append(
            run_setup(
                name,
                admin,
                template_db,
                source_url,
                args.prefix,
                setups[name],
                rerun=name == "shipped",
            )
        )
    if args.latency_ms:
        port = urlsplit(admin).port or 5432
        with LatencyProxy("127.0.0.1", port, delay_ms=args.latency_ms / 2) as proxy:
            slow_source = with_port(source_url, proxy.port)
            for name in ("shipped", "naive"):
                print(f"running {name}+latency ...", flush=True)
                results.append(
                    run_setup(
                        f"{name}+latency",
                        admin,
                        template_db,
                        slow_source,
                        args.prefix,
                        setups[name],
                    )
                )

    for result in results:
        print_setup(result)
    by_name = {result["setup"]: result for result in results}
    ratios = {}
    if "shipped" in by_name and "floor" in by_name:
        ratios["shipped/floor"] = round(
            by_name["shipped"]["seconds"] / by_name["floor"]["seconds"], 2
        )
    if "shipped" in by_name and "naive" in by_name:
        ratios["naive/shipped"] = round(
            by_name["naive"]["seconds"] / by_name["shipped"]["seconds"], 2
        )
    if "shipped+latency" in by_name and "naive+latency" in by_name:
        ratios["naive/shipped with latency"] = round(
            by_name["naive+latency"]["seconds"] / by_name["shipped+latency"]["seconds"], 2
        )
    print("\nratios: " + ", ".join(f"{key} {value}" for key, value in ratios.items()))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {
                "users": args.users,
                "seed": args.seed,
                "latency_ms": args.latency_ms,
                "setups": results,
                "ratios": ratios,
            },
            indent=2,
        )
    )
    print(f"written {args.json}")


if __name__ == "__main__":
    main()
