"""Test support for the project as a whole: worlds and helpers, never imported by product code."""
