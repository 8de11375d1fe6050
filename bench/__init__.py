"""The benchmark of the whole migration (run.py) and its helpers."""
