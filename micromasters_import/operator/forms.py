"""Forms for the ID mappings: a MicroMasters id must exist in MicroMasters to be saved.

A mistyped id used to be saved silently and import nothing (or the wrong course). These forms
look the id up through the mount (`source_lookup`) and refuse an id that is not there, with
an error saying where it was looked for. When the source is not mounted nothing can be
checked: the form then saves, and says so (`source_warning`), so that an operator can fill
mappings before the mount exists; the readiness page and preflight still stand guard.

The admin uses these forms, and so does `suggestions.create`, so a ticked suggestion is
validated exactly like a mapping typed by hand.
"""

from django import forms
from django.core.exceptions import ValidationError

from micromasters_import.models import CourseId, ProgramId, ProgramTierId
from micromasters_import.operator import source_lookup


class SourceCheckedForm(forms.ModelForm):
    """Checks one integer field against one kind of MicroMasters row."""

    source_field = ""
    source_noun = ""
    source_table = ""
    # The MicroMasters rows of `source_table` by id (a `source_lookup` function); None when the
    # source cannot be read.
    source_rows = None

    def __init_subclass__(cls, **kwargs):
        """Django cleans a field with the form's `clean_<field>`: the source check, here."""
        super().__init_subclass__(**kwargs)
        setattr(cls, f"clean_{cls.source_field}", cls._clean_source_id)

    def __init__(self, *args, source_schema: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.source_schema = source_schema or source_lookup.default_schema()
        self.source_warning: str | None = None
        self.source_row = None

    def _clean_source_id(self):
        value = self.cleaned_data.get(self.source_field)
        if value is None:
            return value
        rows = self.source_rows([value], schema=self.source_schema)
        if rows is None:
            self.source_warning = f"MicroMasters {self.source_noun} {value} was not checked: " + (
                source_lookup.problem(self.source_schema)
                or source_lookup.not_mounted_message(self.source_schema)
            )
            return value
        if value not in rows:
            raise ValidationError(
                f"There is no MicroMasters {self.source_noun} with id {value} "
                f"(looked in {self.source_schema}.{self.source_table}). Check the id in "
                f"MicroMasters, or use the suggested mappings.",
                code="not_in_micromasters",
            )
        self.source_row = rows[value]
        return value


class CourseIdForm(SourceCheckedForm):
    """A CourseId whose MicroMasters course exists."""

    source_field = "micromasters_id"
    source_noun = "course"
    source_table = "courses_course"
    source_rows = staticmethod(source_lookup.courses)

    class Meta:
        model = CourseId
        fields = ["micromasters_id", "course"]


class ProgramIdForm(SourceCheckedForm):
    """A ProgramId whose MicroMasters program exists."""

    source_field = "micromasters_id"
    source_noun = "program"
    source_table = "courses_program"
    source_rows = staticmethod(source_lookup.programs)

    class Meta:
        model = ProgramId
        fields = ["micromasters_id", "program", "program_certificate_revision"]


class ProgramTierIdForm(SourceCheckedForm):
    """A ProgramTierId whose MicroMasters tier program exists."""

    source_field = "micromasters_tier_program_id"
    source_noun = "tier program"
    source_table = "financialaid_tierprogram"
    source_rows = staticmethod(source_lookup.tier_programs)

    class Meta:
        model = ProgramTierId
        fields = ["micromasters_tier_program_id", "flexible_price_tier"]
