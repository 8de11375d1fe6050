"""The MITx Online user table, reproduced column for column.

The import SQL joins MicroMasters learners to MITx Online accounts on `users_user.username`,
so the table must look exactly like production's for the SQL and its tests to mean anything.
Only the columns are reproduced: SCIM, HubSpot and Open edX behaviour stays upstream.
"""

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from mitol.common.models import TimestampedModel, TimestampedModelQuerySet, UserGlobalIdMixin


class UserManager(BaseUserManager.from_queryset(TimestampedModelQuerySet)):
    """Creates users the way `createsuperuser` and pytest-django's `admin_user` expect.

    Upstream's manager also creates a legal address, a profile and an Open edX user; those
    tables are not part of this project, so only the user row is written here.
    """

    use_in_migrations = True

    def _create_user(self, username, email, password, **extra_fields):
        if not username:
            msg = "A username is required"
            raise ValueError(msg)
        user = self.model(
            username=username, email=self.normalize_email(email or ""), **extra_fields
        )
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, username, email=None, password=None, **extra_fields):
        """Create an ordinary active account, as sign-up does upstream."""
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(username, email, password, **extra_fields)

    def create_superuser(self, username, email=None, password=None, **extra_fields):
        """Create the operator account that runs the import through the admin."""
        extra_fields.setdefault("is_staff", True)
        extra_fields.setdefault("is_superuser", True)
        if extra_fields["is_staff"] is not True or extra_fields["is_superuser"] is not True:
            msg = "A superuser must have is_staff=True and is_superuser=True"
            raise ValueError(msg)
        return self._create_user(username, email, password, **extra_fields)


class User(AbstractBaseUser, TimestampedModel, PermissionsMixin, UserGlobalIdMixin):
    """A MITx Online account; MicroMasters learners are matched to it by `username`.

    The SCIM columns come from django-scim2's mixin upstream; they are declared directly
    because that package (and its `save()` that fills `scim_id`) is not needed here.
    """

    # django-scim2 stores NULL for "not provisioned through SCIM"; keep its column shape.
    scim_id = models.CharField(max_length=254, null=True, blank=True, default=None, unique=True)
    scim_external_id = models.CharField(  # noqa: DJ001
        max_length=254, null=True, blank=True, default=None, db_index=True
    )
    scim_username = models.CharField(  # noqa: DJ001
        max_length=254, null=True, blank=True, default=None, db_index=True
    )
    # varchar(500) as upstream, even though the real limit is lower (upstream comment)
    username = models.CharField(unique=True, max_length=500)
    email = models.EmailField(blank=False)
    name = models.CharField(blank=True, default="", max_length=255)
    is_staff = models.BooleanField(default=False, help_text="The user can access the admin site")
    is_etl = models.BooleanField(default=False, help_text="The account is used by an ETL job")
    is_active = models.BooleanField(default=True, help_text="The user account is active")
    hubspot_sync_datetime = models.DateTimeField(null=True, blank=True)

    objects = UserManager()

    EMAIL_FIELD = "email"
    USERNAME_FIELD = "username"
    REQUIRED_FIELDS = ["email"]

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("email"), name="user_email_unique"),
        ]

    def __str__(self):
        return f"{self.username} <{self.email}>"

    def get_full_name(self):
        """Name shown by the admin header and auth views; falls back to the username."""
        return self.name or self.username

    def get_short_name(self):
        """Short name used by Django's auth views; same as the full name upstream."""
        return self.get_full_name()
