"""The MicroMasters import: ID mappings, the run ledger and the numbered SQL steps."""

from django.apps import AppConfig

# One word for each thing the ledger records, the same in the admin, the command and the
# README: an *import run* is one invocation of `import_micromasters_data` (model ImportBatch),
# and a *step run* is what one of its steps did (model ImportRun, one ledger row per step).
LEDGER_NAMES = {
    "ImportBatch": ("import run", "import runs"),
    "ImportRun": ("step run", "step runs"),
}


class MicromastersImportConfig(AppConfig):
    name = "micromasters_import"
    verbose_name = "MicroMasters import"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        """Give the ledger's models the names the operator reads everywhere.

        The model classes keep their names (the tables and the code use them); only the
        display names change. They are set here rather than in `Meta`, because Django records
        `Meta` names in the migration history, and these words are not part of the schema.
        """
        for model_name, (singular, plural) in LEDGER_NAMES.items():
            meta = self.get_model(model_name)._meta
            meta.verbose_name = singular
            meta.verbose_name_plural = plural
