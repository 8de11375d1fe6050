"""The MicroMasters side of the import, rebuilt locally as plain tables.

The import reads MicroMasters through a postgres_fdw mount that tests and demos cannot have,
so this package recreates the source tables exactly as MicroMasters has them (`schema.sql`,
written from the reference fact sheet) and fills them with factory-boy factories. Keeping the
DDL faithful, including the constraints MicroMasters lacks, lets tests feed the import the
same duplicates and gaps that production data contains.
"""
