"""The numbered SQL steps (NNN_name.sql) and their tests."""
