"""Test worlds of the import, shared by its tests: never imported by product code."""
