"""The import engine: find the numbered steps, stage the source, run and record, check, undo.

`steps` finds and orders the SQL files, `preflight` checks before anything is written,
`staging` copies the MicroMasters rows the steps read, `runner` runs them under `lock` and
records them in the `ledger` (with `fingerprint` for cheap re-runs), `outcomes` names what
became of every source row, `invariants` checks the result, `report`, `explain`, `skipped`
and `left_behind` answer an operator's questions afterwards, and `revert` takes a run back.
"""
