"""Factories for the ID mappings and the ledger."""

import uuid

import factory
from factory.django import DjangoModelFactory

from courses.factories import CourseFactory, ProgramFactory
from flexiblepricing.factories import FlexiblePriceTierFactory
from micromasters_import.models import (
    CourseCertificateRevisionId,
    CourseId,
    ImportRun,
    ProgramId,
    ProgramTierId,
)
from wagtailcore.factories import RevisionFactory


class CourseIdFactory(DjangoModelFactory):
    micromasters_id = factory.Sequence(lambda n: 10_000 + n)
    course = factory.SubFactory(CourseFactory)

    class Meta:
        model = CourseId


class ProgramIdFactory(DjangoModelFactory):
    micromasters_id = factory.Sequence(lambda n: 10_000 + n)
    program = factory.SubFactory(ProgramFactory)
    program_certificate_revision = factory.SubFactory(RevisionFactory)

    class Meta:
        model = ProgramId


class ProgramTierIdFactory(DjangoModelFactory):
    micromasters_tier_program_id = factory.Sequence(lambda n: 10_000 + n)
    flexible_price_tier = factory.SubFactory(FlexiblePriceTierFactory)

    class Meta:
        model = ProgramTierId


class CourseCertificateRevisionIdFactory(DjangoModelFactory):
    course = factory.SubFactory(CourseFactory)
    certificate_page_revision = factory.SubFactory(RevisionFactory)

    class Meta:
        model = CourseCertificateRevisionId


class ImportRunFactory(DjangoModelFactory):
    batch = factory.LazyFunction(uuid.uuid4)
    step = "002"
    name = "course_runs"
    checksum = "0" * 64
    status = ImportRun.DONE
    rows_inserted = 0
    run_by = "tester@localhost"

    class Meta:
        model = ImportRun
