"""The operator's pages behind the admin: mapping forms, suggestions, readiness, the report.

Each module reads the mounted source or the ledger for one page; `micromasters_import.admin`
registers the pages and the models.
"""
