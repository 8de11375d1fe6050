"""The MicroMasters database mounted into MITx Online with postgres_fdw: URL, secrets, tables."""
