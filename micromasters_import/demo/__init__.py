"""A demo of the whole migration: a MicroMasters-shaped database and the MITx Online side.

Nobody can try the import without a MicroMasters database, and nobody may copy production
learner data onto a laptop. This package builds a fake but realistic one at any scale
(`source`), and the MITx Online objects an operator would already have before importing:
the linked accounts, the catalogue, the existing runs and their products, the price tiers
and the ID mappings (`target`). Both sides are deterministic functions of `--users` and
`--seed`, so a demo, a test and a benchmark all see the same data.
"""
