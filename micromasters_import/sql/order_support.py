"""Building blocks shared by the order step tests (005, 006, 007): sellable imported runs."""

from types import SimpleNamespace

from ecommerce.factories import VersionedProductFactory
from micromasters_import.source.factories import MMCourseRunFactory


def sellable_run(mapped, imported_run, price="250.00", product=True):
    """A MicroMasters run, its MITx Online run, and (optionally) an active versioned product."""
    mm_run = MMCourseRunFactory(course=mapped.mm)
    run = imported_run(mm_run, mapped.course)
    made = VersionedProductFactory(purchasable_object=run, price=price) if product else None
    return SimpleNamespace(mm=mm_run, run=run, product=made)
