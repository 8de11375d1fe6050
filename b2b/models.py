"""The B2B contract page, reduced to columns MITx Online's `b2b_contractpage` really has."""

from django.db import models


class ContractPage(models.Model):
    """A B2B contract; its primary key is the wagtail page's, `page_ptr_id`."""

    page_ptr = models.AutoField(primary_key=True, db_column="page_ptr_id")
    name = models.CharField(max_length=255)

    class Meta:
        db_table = "b2b_contractpage"

    def __str__(self):
        return self.name
