"""Models of the flexiblepricing app."""
