"""Models of the ecommerce app."""
