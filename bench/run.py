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

It prints a table per setup: each step's rows and seconds, then where every second of the
command's wall time went (start-up, preflight, staging per table with rows and bytes, each
step's statement, commits, ANALYZE and ledger writes between steps, fingerprints, checks,
exit), read from the phases the command records when MICROMASTERS_IMPORT_TIMINGS names a
file, so the lines add up to the wall time; rows per second; the peak memory of the command.

For the shipped setup it also measures the limit (bench/limits.py: the transfer floor, copying
exactly the source rows and columns the steps need through the mount into unindexed tables,
plus the write floor, inserting the rows the run inserted into empty copies of the target
tables with their indexes and constraints) and three re-runs: a second `--all`, one after
touching last_login of 10 % of the users, and one after adding one new linked learner (with
the rows that re-run inserted, and how many belong to another account: none should).

`--compare REV` runs the same setups with another git revision's code, from a temporary
worktree of it, on the same source data and MITx Online data (that revision's own `migrate`
brings the template to its schema), and prints both side by side with the ratio. It prints
the ratios shipped/floor, shipped/limit, naive/shipped and this/REV, and writes everything as
JSON. Run it with the project's virtualenv, with a prefix of your own for its databases:
`.venv/bin/python bench/run.py --users 20000 --prefix mybench --compare main --drop`.
"""

import argparse
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from bench.latency_proxy import LatencyProxy  # noqa: E402


def reader_role(prefix: str) -> str:
    """The source's read-only role of one prefix: each benchmark has its own, so two people
    benchmarking on one server never reset each other's password under a live mount."""
    return f"{prefix}_reader"


TIMINGS_ENV = "MICROMASTERS_IMPORT_TIMINGS"


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


def manage(
    database_url: str,
    *args,
    source_url: str | None = None,
    quiet=True,
    project: Path = PROJECT,
    timings: bool = False,
):
    """Run a management command against one target database, with one revision's code.

    Returns (seconds, output, rusage, run), where `run` has the wall-clock start and end and,
    with `timings`, the phases the command recorded (see micromasters_import.engine.timing).
    """
    env = dict(os.environ, DATABASE_URL=database_url)
    env.pop("PYTHONPATH", None)
    if source_url:
        env["MICROMASTERS_DATABASE_URL"] = source_url
    phases_file = None
    if timings:
        handle, phases_file = tempfile.mkstemp(prefix="bench_phases_", suffix=".jsonl")
        os.close(handle)
        env[TIMINGS_ENV] = phases_file
    wall_start = time.time()
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, str(project / "manage.py"), *args],
        env=env,
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.monotonic() - started
    run = {"start": wall_start, "end": wall_start + seconds, "phases": []}
    if phases_file:
        with open(phases_file) as lines:
            run["phases"] = [json.loads(line) for line in lines if line.strip()]
        os.unlink(phases_file)
    if process.returncode != 0:
        sys.exit(f"bench: `manage.py {' '.join(args)}` failed:\n{output}")
    if not quiet:
        print(output)
    return seconds, output, usage, run


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


def ensure_reader(admin: str, source_db: str, reader: str, password: str) -> None:
    """A password-protected read-only role on the source, as production would give us."""
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [reader]).fetchone()
        verb = "ALTER" if exists else "CREATE"
        conn.execute(
            sql.SQL("{} ROLE {} LOGIN PASSWORD {}").format(
                sql.SQL(verb), sql.Identifier(reader), sql.Literal(password)
            )
        )
    with psycopg.connect(with_database(admin, source_db), autocommit=True) as conn:
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(sql.Identifier(reader)))
        conn.execute(
            sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA public TO {}").format(
                sql.Identifier(reader)
            )
        )


def database_exists(admin: str, name: str) -> bool:
    """Whether the server has this database."""
    with psycopg.connect(admin, autocommit=True) as conn:
        return bool(conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone())


def database_comment(admin: str, name: str) -> str | None:
    """The comment the bench left on a database it built (its scale and seed)."""
    with psycopg.connect(admin, autocommit=True) as conn:
        row = conn.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
            [name],
        ).fetchone()
    return row[0] if row else None


def build(
    admin: str,
    users: int,
    seed: int,
    prefix: str,
    project: Path = PROJECT,
    reuse: bool = False,
    source_db: str | None = None,
) -> tuple[str, str]:
    """The source database and a migrated target template with the demo's MITx Online side.

    The template is migrated by `project`'s code (one revision's). With `reuse`, a source and
    template this bench already built at the same scale and seed are kept as they are.
    """
    source_db, template_db = source_db or f"{prefix}_source", f"{prefix}_template"
    stamp = f"bench users={users} seed={seed}"
    if (
        reuse
        and database_exists(admin, source_db)
        and database_comment(admin, template_db) == stamp
    ):
        print(f"reusing {source_db} and {template_db} ({stamp})")
        return source_db, template_db
    recreate_database(admin, template_db)
    template_url = with_database(admin, template_db)
    manage(template_url, "migrate", "--noinput", "-v", "0", project=project)
    seconds, _, _, _ = manage(
        template_url,
        "create_micromasters_demo",
        "--users",
        str(users),
        "--seed",
        str(seed),
        "--source-database",
        source_db,
        "--replace",
        project=project,
    )
    # Production's tables have statistics (autovacuum keeps them); so must every copy here.
    execute(template_url, "ANALYZE")
    execute(
        admin,
        sql.SQL("COMMENT ON DATABASE {} IS {}").format(
            sql.Identifier(template_db), sql.Literal(stamp)
        ),
    )
    print(f"built the source ({users} users) and the target template in {seconds:.1f}s")
    return source_db, template_db


def revision_worktree(rev: str) -> Path:
    """A detached git worktree of `rev` in a temporary directory, with the project's virtualenv."""
    where = Path(tempfile.mkdtemp(prefix="bench_rev_"))
    subprocess.run(
        ["git", "-C", str(PROJECT), "worktree", "add", "--detach", str(where), rev],
        check=True,
        capture_output=True,
    )
    venv = PROJECT / ".venv"
    if venv.exists() and not (where / ".venv").exists():
        (where / ".venv").symlink_to(venv.resolve())
    return where


def remove_worktree(where: Path) -> None:
    """Remove a worktree `revision_worktree` made."""
    subprocess.run(
        ["git", "-C", str(PROJECT), "worktree", "remove", "--force", str(where)],
        check=False,
        capture_output=True,
    )


def revision_template(admin, template_db, project, prefix, users, seed) -> str:
    """A target template for another revision, migrated by that revision's code.

    It starts as a copy of this revision's template (the same MITx Online data), which that
    revision's `migrate` then brings to its own schema. When the template has migrations the
    other revision does not know (it is older), the copy cannot be brought back, so that
    revision builds its own template with its own `migrate` and demo, at the same scale and
    seed (the demo is deterministic), and its own copy of the source is discarded.
    """
    rev_template = f"{prefix}_rev_template"
    recreate_database(admin, rev_template, template=template_db)
    url = with_database(admin, rev_template)
    known = {path.stem for path in (project / "micromasters_import" / "migrations").glob("0*.py")}
    with psycopg.connect(url) as conn:
        applied = {
            row[0]
            for row in conn.execute(
                "SELECT name FROM django_migrations WHERE app = 'micromasters_import'"
            )
        }
    if applied - known:
        print(f"  the template has migrations the other revision lacks: {sorted(applied - known)}")
        _, rev_template = build(
            admin, users, seed, f"{prefix}_rev", project=project, source_db=f"{prefix}_rev_source"
        )
        execute(
            admin,
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(f"{prefix}_rev_source")
            ),
        )
        return rev_template
    manage(url, "migrate", "--noinput", "-v", "0", project=project)
    execute(url, "ANALYZE")
    return rev_template


def copy_source_locally(target_url: str, source_url: str, project: Path = PROJECT) -> None:
    """Make the floor: the source tables as plain, analyzed tables in schema `micromasters`."""
    manage(
        target_url,
        "setup_micromasters_fdw",
        "--schema",
        "bench_copy",
        source_url=source_url,
        project=project,
    )
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
        project=project,
    )


STAGED = re.compile(r"Staged (\d+) MicroMasters table\(s\) locally \(([\d.]+)s\)")


def latest_batch(target_url: str) -> str:
    """The batch of the latest import run."""
    with psycopg.connect(target_url) as conn:
        return conn.execute(
            "SELECT batch FROM micromasters_import_importbatch ORDER BY id DESC LIMIT 1"
        ).fetchone()[0]


def step_rows(target_url: str) -> tuple[list[dict], float]:
    """Each step of the latest run: rows inserted and seconds, read back from the ledger."""
    batch = latest_batch(target_url)
    with psycopg.connect(target_url) as conn:
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


# -- where the seconds go ---------------------------------------------------------------------


def _self_times(phases: list[dict]) -> tuple[list[dict], float, float, float]:
    """Each phase with its own seconds (minus the phases nested in it), and the covered span."""
    entries = []
    stack: list[dict] = []
    covered = 0.0
    for phase in sorted(phases, key=lambda p: (p["start"], -p["end"])):
        entry = dict(phase, own=phase["end"] - phase["start"])
        while stack and stack[-1]["end"] <= entry["start"]:
            stack.pop()
        if stack:
            stack[-1]["own"] -= entry["end"] - entry["start"]
        else:
            covered += entry["end"] - entry["start"]
        stack.append(entry)
        entries.append(entry)
    first = min(p["start"] for p in phases)
    last = max(p["end"] for p in phases)
    return entries, covered, first, last


def _group(name: str) -> str:
    """The line of the accounting a phase belongs to."""
    parts = name.split(".")
    if name == "command":
        return "command itself: lock, session settings, output"
    if parts[0] == "preflight":
        return {
            "catalog": "preflight: catalog, mapping and drift checks",
            "stage": "preflight: empty staged copies to plan against",
            "explain": "preflight: EXPLAIN of every step",
            "dependencies": "preflight: dependencies",
        }.get(parts[1], "preflight: transaction")
    if parts[0] == "ledger" or (parts[0] == "step" and parts[2].startswith("ledger")):
        return "ledger writes"
    if parts[0] in ("plan", "fingerprints"):
        return "fingerprints"
    if parts[0] == "staging":
        return "dropping the staged copies" if parts[1] == "drop" else f"staging {parts[1]}"
    if parts[0] == "step":
        return {
            "statement": f"step {parts[1]} statement",
            "analyze": "between steps: ANALYZE of the written table",
            "commit": "between steps: commit",
        }[parts[2]]
    if name == "checks":
        return "checks"
    return name


def account(run: dict, output: str = "", steps: list[dict] | None = None) -> list[dict]:
    """Where every second of one command went, as lines that add up to its wall time.

    With the command's own phases (MICROMASTERS_IMPORT_TIMINGS) the lines are exact; for a
    revision that does not record them, the staging total and each step's seconds are read
    from its output and ledger, and the rest is one line.
    """
    wall = run["end"] - run["start"]
    lines: dict[str, dict] = {}

    def add(label, seconds, **counts):
        line = lines.setdefault(label, {"phase": label, "seconds": 0.0})
        line["seconds"] += seconds
        for key, value in counts.items():
            line[key] = line.get(key, 0) + value

    if run["phases"]:
        entries, covered, first, last = _self_times(run["phases"])
        add("start-up: interpreter, Django, command parsing", first - run["start"])
        for entry in entries:
            counts = {key: entry[key] for key in ("rows", "bytes") if key in entry}
            add(_group(entry["phase"]), entry["own"], **counts)
        add("untracked: between phases", (last - first) - covered)
        add("exit: process end", run["end"] - last)
    else:
        staged = STAGED.search(output)
        known = 0.0
        if staged:
            add("staging (total, from the output)", float(staged.group(2)))
            known += float(staged.group(2))
        for step in steps or []:
            add(f"step {step['step']} (ledger seconds)", step["seconds"])
            known += step["seconds"]
        add("everything else (this revision records no phases)", wall - known)
    return list(lines.values())


SUMMARY = [
    ("start-up", ("start-up",)),
    ("preflight", ("preflight",)),
    ("staging", ("staging",)),
    ("step statements", ("step ",)),
    ("between steps", ("between steps", "ledger", "command itself", "untracked")),
    ("fingerprints", ("fingerprints",)),
    ("checks and clean-up", ("checks", "dropping", "exit")),
    ("everything else", ("everything else",)),
]


def summarize(phases: list[dict]) -> dict[str, float]:
    """The accounting in a few lines, for the side-by-side comparison."""
    totals = {label: 0.0 for label, _ in SUMMARY}
    for line in phases:
        for label, prefixes in SUMMARY:
            if line["phase"].startswith(prefixes):
                totals[label] += line["seconds"]
                break
    return {label: round(seconds, 3) for label, seconds in totals.items()}


# -- re-runs on a live target ---------------------------------------------------------------


def touch_logins(target_url: str, share: float = 0.1) -> int:
    """Set last_login of a share of the users, as their logins would on a live MITx Online."""
    with psycopg.connect(target_url, autocommit=True) as conn:
        cursor = conn.execute(
            "UPDATE users_user SET last_login = now() WHERE id %% %s = 0", [round(1 / share)]
        )
        return cursor.rowcount


def _copy_row(conn, table: str, where: str, params: list, changes: dict) -> int:
    """Insert copies of some rows of `table` with some columns changed; returns the count.

    Generic over the table's shape: each row goes through JSON, gets `changes` (SQL
    expressions, the new id among them) and comes back as a row of the table.
    """
    sets = ", ".join(f"'{column}', {expr}" for column, expr in changes.items())
    cursor = conn.execute(
        f"INSERT INTO {table} SELECT (jsonb_populate_record(NULL::{table}, "
        f"to_jsonb(t) || jsonb_build_object({sets}))).* FROM {table} t WHERE {where}",
        params,
    )
    return cursor.rowcount


NEW_LEARNER_TABLES = (
    "dashboard_cachedenrollment",
    "dashboard_programenrollment",
    "grades_finalgrade",
    "grades_proctoredexamgrade",
)


def add_learner(admin: str, source_db: str, target_url: str) -> dict:
    """One new MicroMasters learner, linked to a new MITx Online account, with records.

    The learner copies the records of an existing linked learner with cached enrollments
    (enrollments, program enrollments, grades), under new ids, a new uid and username.
    Returns who was added and how many source rows, for checking what the re-run imports.
    """
    uid = f"bench_new_{secrets.token_hex(4)}"
    with psycopg.connect(target_url) as target:
        # A learner whose records the first run imported: enrollments, grades, a program.
        usernames = [
            row[0]
            for row in target.execute(
                "SELECT u.username FROM users_user u WHERE EXISTS (SELECT 1 FROM "
                "courses_courserungrade g WHERE g.user_id = u.id) AND EXISTS (SELECT 1 FROM "
                "courses_courserunenrollment e WHERE e.user_id = u.id) AND EXISTS (SELECT 1 "
                "FROM courses_programenrollment p WHERE p.user_id = u.id) ORDER BY u.id LIMIT 50"
            )
        ]
    with psycopg.connect(with_database(admin, source_db), autocommit=True) as source:
        model = source.execute(
            "SELECT s.user_id, s.uid FROM social_auth_usersocialauth s "
            "WHERE s.provider = 'mitxonline' AND s.uid = ANY(%s) "
            "AND (SELECT count(*) FROM social_auth_usersocialauth o WHERE o.uid = s.uid "
            "OR o.user_id = s.user_id) = 1 ORDER BY s.user_id LIMIT 1",
            [usernames],
        ).fetchone()
        model_id, model_uid = model
        new_id = source.execute("SELECT max(id) + 1 FROM auth_user").fetchone()[0]
        _copy_row(
            source,
            "auth_user",
            "id = %s",
            [model_id],
            {"id": new_id, "username": f"'{uid}'", "email": f"'{uid}@example.com'"},
        )
        _copy_row(
            source,
            "social_auth_usersocialauth",
            "user_id = %s AND provider = 'mitxonline'",
            [model_id],
            {
                "id": "(SELECT max(id) + 1 FROM social_auth_usersocialauth)",
                "user_id": new_id,
                "uid": f"'{uid}'",
            },
        )
        copied = {}
        for table in NEW_LEARNER_TABLES:
            offset = source.execute(f"SELECT max(id) FROM {table}").fetchone()[0]
            copied[table] = _copy_row(
                source,
                table,
                "user_id = %s",
                [model_id],
                {"id": f"{offset} + row_number() OVER (ORDER BY id)", "user_id": new_id},
            )
    with psycopg.connect(target_url, autocommit=True) as target:
        account_id = target.execute("SELECT max(id) + 1 FROM users_user").fetchone()[0]
        _copy_row(
            target,
            "users_user",
            "username = %s",
            [model_uid],
            {
                "id": account_id,
                "username": f"'{uid}'",
                "email": f"'{uid}@example.com'",
                "global_id": "NULL",
                "scim_id": "NULL",
            },
        )
    return {"mm_user_id": new_id, "user_id": account_id, "uid": uid, "source_rows": copied}


def rows_of_others(target_url: str, user_id: int) -> dict[str, int]:
    """Rows the latest run inserted, per table, and how many belong to another account."""
    batch = latest_batch(target_url)
    out = {}
    with psycopg.connect(target_url) as conn:
        for table, count in conn.execute(
            "SELECT r.target_table, count(*) FROM micromasters_import_importedrow r "
            "JOIN micromasters_import_importrun l ON l.id = r.ledger_id WHERE l.batch = %s "
            "GROUP BY 1 ORDER BY 1",
            [batch],
        ).fetchall():
            column = conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
                "AND column_name IN ('user_id', 'purchaser_id') LIMIT 1",
                [table],
            ).fetchone()
            others = None
            if column:
                others = conn.execute(
                    sql.SQL(
                        "SELECT count(*) FROM {t} t WHERE t.{c} <> %s AND t.id IN (SELECT "
                        "r.target_id FROM micromasters_import_importedrow r JOIN "
                        "micromasters_import_importrun l ON l.id = r.ledger_id WHERE "
                        "l.batch = %s AND r.target_table = %s)"
                    ).format(t=sql.Identifier(table), c=sql.Identifier(column[0])),
                    [user_id, batch, table],
                ).fetchone()[0]
            out[table] = {"rows": count, "other_accounts": others}
    return out


# -- the limit ----------------------------------------------------------------------------------


def measure_limit(target_url: str, batch: str) -> dict:
    """Transfer floor plus write floor for the run `batch` in `target_url` (see bench.limits)."""
    from bench import limits

    with psycopg.connect(target_url, autocommit=True) as conn:
        with conn.transaction():
            transfer = limits.transfer(conn.cursor())
        limits.drop_transfer(conn.cursor())
        write = limits.write(conn.cursor(), batch)
        limits.drop_write(conn.cursor())
    return {
        "transfer": transfer,
        "write": write,
        "transfer_seconds": round(sum(t["seconds"] for t in transfer), 3),
        "write_seconds": round(sum(t["seconds"] for t in write), 3),
        "seconds": round(sum(t["seconds"] for t in transfer + write), 3),
    }


def run_setup(
    name,
    admin,
    template_db,
    source_url,
    prefix,
    mount_args,
    project: Path = PROJECT,
    reruns: dict | None = None,
    limit: bool = False,
    timings: bool = True,
) -> dict:
    """Time `--all` in a fresh copy of the template with one way of reaching the source."""
    target_db = f"{prefix}_{name.replace('+', '_').replace(':', '_')}"
    recreate_database(admin, target_db, template=template_db)
    target_url = with_database(admin, target_db)
    if mount_args is None:
        copy_source_locally(target_url, source_url, project=project)
    else:
        manage(
            target_url,
            "setup_micromasters_fdw",
            *mount_args,
            source_url=source_url,
            project=project,
        )
    command = ("import_micromasters_data", "--all", "--noinput")
    seconds, output, usage, run = manage(
        target_url, *command, source_url=source_url, project=project, timings=timings
    )
    staged = STAGED.search(output)
    steps = step_rows(target_url)
    result = {
        "setup": name,
        "database": target_db,
        "seconds": round(seconds, 3),
        "staging_seconds": float(staged.group(2)) if staged else None,
        "peak_memory_mb": round(usage.ru_maxrss / 1024, 1),
        "steps": steps,
        "phases": account(run, output, steps),
    }
    result["summary"] = summarize(result["phases"])
    result["rows"] = sum(step["rows"] for step in result["steps"])
    result["rows_per_second"] = round(result["rows"] / seconds) if seconds else None
    if limit:
        result["limit"] = measure_limit(target_url, latest_batch(target_url))
    reruns = reruns or {}

    def again(label, **extra):
        took, _, _, _ = manage(target_url, *command, source_url=source_url, project=project)
        rows = sum(step["rows"] for step in step_rows(target_url))
        result.setdefault("reruns", {})[label] = {
            "seconds": round(took, 3),
            "share": round(took / seconds, 3),
            "rows": rows,
            **extra,
        }

    if reruns.get("again"):
        again("second --all")
    if reruns.get("logins"):
        touched = touch_logins(target_url)
        again("after last_login of 10% of users", users_touched=touched)
    if reruns.get("learner"):
        added = add_learner(admin, reruns["source_db"], target_url)
        again("after one new linked learner", learner=added)
        result["reruns"]["after one new linked learner"]["tables"] = rows_of_others(
            target_url, added["user_id"]
        )
    return result


def print_setup(result: dict) -> None:
    """One table per setup: the steps, then where every second went."""
    print(f"\n{result['setup']}")
    print(f"  {'step':<38} {'candidates':>10} {'rows':>9} {'seconds':>8}")
    for step in result["steps"]:
        label = f"{step['step']}_{step['name']}"
        print(f"  {label:<38} {step['candidates']:>10} {step['rows']:>9} {step['seconds']:>8.2f}")
    print(
        f"  {'total (command wall time)':<38} {'':>10} {result['rows']:>9} "
        f"{result['seconds']:>8.2f}"
    )
    print(f"\n  {'where the wall time went':<52} {'rows':>10} {'MB':>8} {'seconds':>8}")
    for line in result["phases"]:
        rows = f"{line['rows']:>10}" if "rows" in line else f"{'':>10}"
        size = f"{line['bytes'] / 1e6:>8.1f}" if "bytes" in line else f"{'':>8}"
        print(f"  {line['phase'][:52]:<52} {rows} {size} {line['seconds']:>8.3f}")
    total = sum(line["seconds"] for line in result["phases"])
    print(f"  {'sum of the lines':<52} {'':>10} {'':>8} {total:>8.3f}")
    print(
        f"  rows/s {result['rows_per_second']}, peak memory of the command "
        f"{result['peak_memory_mb']} MB"
    )
    if "limit" in result:
        limit = result["limit"]
        print(
            f"  limit {limit['seconds']:.2f}s = transfer {limit['transfer_seconds']:.2f}s "
            f"({sum(t['rows'] for t in limit['transfer'])} rows) + write "
            f"{limit['write_seconds']:.2f}s ({sum(t['rows'] for t in limit['write'])} rows)"
        )
    for label, rerun in result.get("reruns", {}).items():
        print(
            f"  re-run {label}: {rerun['seconds']:.2f}s ({rerun['share'] * 100:.0f}% of the "
            f"first), {rerun['rows']} rows"
        )
        for table, counts in rerun.get("tables", {}).items():
            print(
                f"      {table}: {counts['rows']} rows, "
                f"{counts['other_accounts']} of another account"
            )


def print_comparison(ours: dict, theirs: dict, rev: str) -> dict:
    """This revision and another side by side, by summary line, with the ratio."""
    print(f"\nside by side: this revision vs {rev} ({ours['setup']})")
    print(f"  {'':<24} {'this':>9} {rev[:12]:>12} {'this/' + rev[:8]:>14}")
    for label in ours["summary"]:
        a, b = ours["summary"][label], theirs["summary"][label]
        ratio = f"{a / b:.2f}" if b else ""
        print(f"  {label:<24} {a:>9.2f} {b:>12.2f} {ratio:>14}")
    ratio = ours["seconds"] / theirs["seconds"]
    print(f"  {'wall time':<24} {ours['seconds']:>9.2f} {theirs['seconds']:>12.2f} {ratio:>14.2f}")
    print(
        f"  {'rows inserted':<24} {ours['rows']:>9} {theirs['rows']:>12} "
        f"{'same' if ours['rows'] == theirs['rows'] else 'DIFFERENT':>14}"
    )
    same = ours["rows"] == theirs["rows"]
    return {"revision": rev, "this/revision": round(ratio, 3), "same_rows": same}


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
    parser.add_argument(
        "--compare",
        metavar="REV",
        help="also run the same setups with another git revision's code (in a worktree of "
        "it), on the same data, and print both side by side",
    )
    parser.add_argument(
        "--no-reruns",
        action="store_true",
        help="skip the re-runs of the shipped setup (second --all, after logins, new learner)",
    )
    parser.add_argument(
        "--no-limit", action="store_true", help="skip measuring the transfer and write floors"
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="keep a source and template this bench built before at the same scale and seed",
    )
    parser.add_argument(
        "--drop", action="store_true", help="drop every database of this prefix at the end"
    )
    parser.add_argument("--json", type=Path, default=PROJECT / "bench" / "results" / "latest.json")
    parser.add_argument("--prefix", default="bench")
    args = parser.parse_args()

    admin = admin_url()
    source_db, template_db = build(admin, args.users, args.seed, args.prefix, reuse=args.reuse)
    password = os.environ.get("BENCH_READER_PASSWORD") or secrets.token_urlsafe(16)
    reader = reader_role(args.prefix)
    ensure_reader(admin, source_db, reader, password)
    source_url = with_database(admin, source_db, user=reader, password=password)

    setups = {
        "shipped": [],
        "floor": None,
        "naive": ["--fetch-size", "100", "--no-remote-estimate"],
    }
    names = args.setups.split(",")
    results = []
    for name in names:
        print(f"running {name} ...", flush=True)
        shipped = name == "shipped"
        reruns = (
            {"again": True, "logins": True, "learner": not args.compare, "source_db": source_db}
            if shipped and not args.no_reruns
            else None
        )
        results.append(
            run_setup(
                name,
                admin,
                template_db,
                source_url,
                args.prefix,
                setups[name],
                reruns=reruns,
                limit=shipped and not args.no_limit,
            )
        )
    comparisons = []
    if args.compare:
        where = revision_worktree(args.compare)
        try:
            rev_template = revision_template(
                admin, template_db, where, args.prefix, args.users, args.seed
            )
            for name in names:
                print(f"running {name} with {args.compare} ...", flush=True)
                theirs = run_setup(
                    f"{name}:{args.compare}",
                    admin,
                    rev_template,
                    source_url,
                    args.prefix + "_rev",
                    setups[name],
                    project=where,
                )
                results.append(theirs)
        finally:
            remove_worktree(where)
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
    if args.compare and "shipped" in names and not args.no_reruns:
        # A run with another revision's code must not touch this run's source: the learner
        # is added last, once every revision has run on the same data.
        shipped = next(r for r in results if r["setup"] == "shipped")
        target_url = with_database(admin, shipped["database"])
        added = add_learner(admin, source_db, target_url)
        took, _, _, _ = manage(
            target_url, "import_micromasters_data", "--all", "--noinput", source_url=source_url
        )
        shipped["reruns"]["after one new linked learner"] = {
            "seconds": round(took, 3),
            "share": round(took / shipped["seconds"], 3),
            "rows": sum(step["rows"] for step in step_rows(target_url)),
            "learner": added,
            "tables": rows_of_others(target_url, added["user_id"]),
        }
        # The source changed: a later --reuse must build it again.
        execute(
            admin, sql.SQL("COMMENT ON DATABASE {} IS NULL").format(sql.Identifier(template_db))
        )

    for result in results:
        print_setup(result)
    by_name = {result["setup"]: result for result in results}
    ratios = {}
    if "shipped" in by_name and "floor" in by_name:
        ratios["shipped/floor"] = round(
            by_name["shipped"]["seconds"] / by_name["floor"]["seconds"], 2
        )
    if "shipped" in by_name and "limit" in by_name["shipped"]:
        ratios["shipped/limit"] = round(
            by_name["shipped"]["seconds"] / by_name["shipped"]["limit"]["seconds"], 2
        )
    if "shipped" in by_name and "naive" in by_name:
        ratios["naive/shipped"] = round(
            by_name["naive"]["seconds"] / by_name["shipped"]["seconds"], 2
        )
    if "shipped+latency" in by_name and "naive+latency" in by_name:
        ratios["naive/shipped with latency"] = round(
            by_name["naive+latency"]["seconds"] / by_name["shipped+latency"]["seconds"], 2
        )
    if args.compare:
        for name in names:
            if name in by_name and f"{name}:{args.compare}" in by_name:
                comparison = print_comparison(
                    by_name[name], by_name[f"{name}:{args.compare}"], args.compare
                )
                comparisons.append(comparison)
                ratios[f"{name} this/{args.compare}"] = round(comparison["this/revision"], 2)
    print("\nratios: " + ", ".join(f"{key} {value}" for key, value in ratios.items()))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {
                "users": args.users,
                "seed": args.seed,
                "latency_ms": args.latency_ms,
                "compare": comparisons,
                "setups": results,
                "ratios": ratios,
            },
            indent=2,
            default=str,
        )
    )
    print(f"written {args.json}")
    if args.drop:
        drop_databases(admin, args.prefix)
        drop_role(admin, reader)


def drop_databases(admin: str, prefix: str) -> None:
    """Drop every database this prefix named (source, templates, targets)."""
    with psycopg.connect(admin, autocommit=True) as conn:
        names = [
            row[0]
            for row in conn.execute(
                "SELECT datname FROM pg_database WHERE datname LIKE %s",
                [prefix.replace("_", r"\_") + r"\_%"],
            )
        ]
        for name in names:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
    print(f"dropped {len(names)} database(s): {', '.join(names)}")


def drop_role(admin: str, role: str) -> None:
    """Drop the prefix's reader role once its databases (and their grants) are gone."""
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


if __name__ == "__main__":
    main()
