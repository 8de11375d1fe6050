"""The benchmark's accounting: every second of the wall time lands on exactly one line."""

from bench.run import account, summarize


def test_nested_phases_count_once_and_the_lines_add_up_to_the_wall_time():
    run = {
        "start": 100.0,
        "end": 110.0,
        "phases": [
            {"phase": "command", "start": 101.0, "end": 109.5},
            {"phase": "staging.mm_order", "start": 102.0, "end": 104.0, "rows": 7, "bytes": 900},
            {"phase": "step.003.commit", "start": 104.0, "end": 107.0},
            {"phase": "step.003.statement", "start": 104.5, "end": 106.0},
            {"phase": "checks", "start": 108.0, "end": 108.5},
        ],
    }
    lines = {line["phase"]: line for line in account(run)}

    assert round(sum(line["seconds"] for line in lines.values()), 9) == 10.0
    assert lines["start-up: interpreter, Django, command parsing"]["seconds"] == 1.0
    assert lines["exit: process end"]["seconds"] == 0.5
    assert lines["staging mm_order"] == {
        "phase": "staging mm_order",
        "seconds": 2.0,
        "rows": 7,
        "bytes": 900,
    }
    assert lines["step 003 statement"]["seconds"] == 1.5
    assert lines["between steps: commit"]["seconds"] == 1.5  # 3 s, less its statement
    # what the command did outside its named phases: 8.5 s less 2 + 3 + 0.5
    assert lines["command itself: lock, session settings, output"]["seconds"] == 3.0
    assert summarize(list(lines.values()))["staging"] == 2.0


def test_a_revision_without_phases_is_accounted_from_its_output_and_ledger():
    run = {"start": 0.0, "end": 10.0, "phases": []}
    output = "  Staged 14 MicroMasters table(s) locally (4.00s)\n"
    lines = account(run, output, [{"step": "003", "seconds": 2.5}])

    assert [(line["phase"], line["seconds"]) for line in lines] == [
        ("staging (total, from the output)", 4.0),
        ("step 003 (ledger seconds)", 2.5),
        ("everything else (this revision records no phases)", 3.5),
    ]
