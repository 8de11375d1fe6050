"""The MITx Online tables the import writes to, as production has them, written out by hand.

The import is raw SQL, so a column whose type or nullability differs from production, or a
missing or extra unique key (every unique key is an ON CONFLICT arbiter), would make the
import pass here and fail there. This module was copied by hand from a catalog reading of a
database MITx Online migrated itself (its tables, keys and conventions), NOT generated from
the models, so that `main/schema_test.py` catches any drift between the two.

Notation, chosen to read like the reference document:
- types are the reference's short names (`varchar(n)`, `timestamptz`, `float8`, ...);
  `PG_TYPE_NAMES` maps them to what PostgreSQL's `format_type()` prints;
- a unique key lists its columns in index order; `where` is the partial-index predicate as
  PostgreSQL prints it (`pg_get_expr(..., pretty=true)`): the reference's
  `language <> ''` is stored by Django's `~Q(language="")` as `NOT language::text = ''::text`;
- `checks` are CHECK constraint bodies as PostgreSQL prints them, without `CHECK (...)`;
- stand-in tables (for apps MITx Online has and this project does not) are `partial`: only
  the listed columns, which other tables' foreign keys depend on, are checked.
"""

import re
from dataclasses import dataclass, field

PRIMARY_KEY = "primary key"
UNIQUE_CONSTRAINT = "unique constraint"
UNIQUE_INDEX = "unique index"

PG_TYPE_NAMES = {
    "timestamptz": "timestamp with time zone",
    "float8": "double precision",
    "varchar": "character varying",
}


def pg_type(short_name):
    """Translate a reference type name (`varchar(8)`) to `format_type()`'s spelling."""
    match = re.fullmatch(r"([a-z0-9]+)(\(.*\))?", short_name)
    base, size = match.group(1), match.group(2) or ""
    return PG_TYPE_NAMES.get(base, base) + size


@dataclass(frozen=True)
class UniqueKey:
    """A primary key, unique constraint or unique index, i.e. an ON CONFLICT arbiter."""

    columns: tuple
    kind: str = UNIQUE_CONSTRAINT
    name: str | None = None  # only checked when given (Django hashes the others' names)
    where: str | None = None
    nulls_not_distinct: bool = False

    def describe(self):
        """One line naming everything that is compared, for assertion messages."""
        text = f"{self.kind} ({', '.join(self.columns)})"
        if self.nulls_not_distinct:
            text += " NULLS NOT DISTINCT"
        if self.where:
            text += f" WHERE {self.where}"
        return text


@dataclass(frozen=True)
class Table:
    """The expected shape of one table."""

    name: str
    columns: dict  # column name -> (format_type() spelling, nullable)
    unique: tuple = ()
    foreign_keys: dict = field(default_factory=dict)  # column -> "table(column)"
    checks: frozenset = frozenset()
    rules: frozenset = frozenset()
    partial: bool = False


def columns(text):
    """Parse `name  type  NULL|NOT NULL` lines, the layout of the reference's tables."""
    parsed = {}
    for line in text.strip().splitlines():
        if not line.strip():
            continue
        match = re.fullmatch(r"\s*(\w+)\s+(\S+)\s+(NULL|NOT NULL)\s*", line)
        if match is None:
            msg = f"cannot read column line {line!r}"
            raise ValueError(msg)
        name, type_name, nullability = match.groups()
        assert name not in parsed, f"column {name} listed twice"
        parsed[name] = (pg_type(type_name), nullability == "NULL")
    return parsed


def pk(column="id"):
    """The primary key, on `id` unless said otherwise."""
    return UniqueKey((column,), kind=PRIMARY_KEY)


def unique(*cols, **kwargs):
    """A unique constraint (`unique=True`, `unique_together` or a plain UniqueConstraint)."""
    return UniqueKey(tuple(cols), **kwargs)


TIMESTAMPS = """
created_on   timestamptz   NOT NULL
updated_on   timestamptz   NOT NULL
"""

USER_FK = {"user_id": "users_user(id)"}

TABLES = [
    # 3.1
    Table(
        "users_user",
        columns(
            """
            id                     integer        NOT NULL
            password               varchar(128)   NOT NULL
            last_login             timestamptz    NULL
            is_superuser           boolean        NOT NULL
            scim_id                varchar(254)   NULL
            scim_external_id       varchar(254)   NULL
            scim_username          varchar(254)   NULL
            created_on             timestamptz    NOT NULL
            updated_on             timestamptz    NOT NULL
            username               varchar(500)   NOT NULL
            email                  varchar(254)   NOT NULL
            name                   varchar(255)   NOT NULL
            is_staff               boolean        NOT NULL
            is_etl                 boolean        NOT NULL
            is_active              boolean        NOT NULL
            global_id              varchar(36)    NULL
            hubspot_sync_datetime  timestamptz    NULL
            """
        ),
        unique=(
            pk(),
            unique("username"),
            UniqueKey(("lower(email::text)",), kind=UNIQUE_INDEX, name="user_email_unique"),
            unique("global_id"),
            unique("scim_id"),
        ),
    ),
    # 3.4
    Table(
        "courses_program",
        columns(
            TIMESTAMPS
            + """
            id                integer        NOT NULL
            title             varchar(255)   NOT NULL
            readable_id       varchar(255)   NOT NULL
            live              boolean        NOT NULL
            program_type      varchar(255)   NULL
            availability      varchar(255)   NOT NULL
            enrollment_start  timestamptz    NULL
            enrollment_end    timestamptz    NULL
            display_mode      varchar(32)    NULL
            start_date        timestamptz    NULL
            end_date          timestamptz    NULL
            b2b_only          boolean        NOT NULL
            """
        ),
        unique=(pk(), unique("readable_id")),
    ),
    # 3.5
    Table(
        "courses_course",
        columns(
            TIMESTAMPS
            + """
            id           integer        NOT NULL
            title        varchar(255)   NOT NULL
            readable_id  varchar(255)   NOT NULL
            live         boolean        NOT NULL
            """
        ),
        unique=(pk(), unique("readable_id")),
    ),
    # 3.6
    Table(
        "courses_courserun",
        columns(
            TIMESTAMPS
            + """
            id                          integer        NOT NULL
            language                    varchar(8)     NOT NULL
            variant_length              varchar(1)     NOT NULL
            variant_industry            varchar(3)     NOT NULL
            course_id                   integer        NOT NULL
            title                       varchar(255)   NOT NULL
            courseware_id               varchar(255)   NOT NULL
            run_tag                     text           NOT NULL
            has_courseware_url          boolean        NOT NULL
            start_date                  timestamptz    NULL
            end_date                    timestamptz    NULL
            certificate_available_date  timestamptz    NULL
            enrollment_start            timestamptz    NULL
            enrollment_end              timestamptz    NULL
            expiration_date             timestamptz    NULL
            upgrade_deadline            timestamptz    NULL
            live                        boolean        NOT NULL
            is_self_paced               boolean        NOT NULL
            b2b_contract_id             integer        NULL
            is_source_run               boolean        NOT NULL
            is_primary_language         boolean        NOT NULL
            """
        ),
        unique=(
            pk(),
            unique("courseware_id"),
            unique("course_id", "courseware_id", "run_tag"),
            UniqueKey(
                (
                    "course_id",
                    "run_tag",
                    "language",
                    "is_source_run",
                    "b2b_contract_id",
                    "variant_length",
                    "variant_industry",
                ),
                kind=UNIQUE_INDEX,
                name="unique_language_per_group",
                where="NOT language::text = ''::text",
                nulls_not_distinct=True,
            ),
            UniqueKey(
                ("course_id", "run_tag", "is_source_run", "b2b_contract_id"),
                kind=UNIQUE_INDEX,
                name="unique_primary_language_per_group",
                where="is_primary_language",
                nulls_not_distinct=True,
            ),
        ),
        foreign_keys={
            "course_id": "courses_course(id)",
            "b2b_contract_id": "b2b_contractpage(page_ptr_id)",
        },
    ),
    # 3.7
    Table(
        "courses_courserunenrollment",
        columns(
            TIMESTAMPS
            + """
            id                          integer       NOT NULL
            user_id                     integer       NOT NULL
            change_status               varchar(20)   NULL
            active                      boolean       NOT NULL
            enrollment_mode             varchar(20)   NOT NULL
            run_id                      integer       NOT NULL
            edx_enrolled                boolean       NOT NULL
            edx_emails_subscription     boolean       NOT NULL
            edx_enrollment_retry_count  integer       NOT NULL
            """
        ),
        unique=(pk(), unique("user_id", "run_id")),
        foreign_keys={**USER_FK, "run_id": "courses_courserun(id)"},
        checks=frozenset({"edx_enrollment_retry_count >= 0"}),
    ),
    # 3.8
    Table(
        "courses_courserungrade",
        columns(
            TIMESTAMPS
            + """
            id             integer       NOT NULL
            user_id        integer       NOT NULL
            course_run_id  integer       NOT NULL
            grade          float8        NOT NULL
            letter_grade   varchar(10)   NULL
            passed         boolean       NOT NULL
            set_by_admin   boolean       NOT NULL
            """
        ),
        unique=(pk(), unique("user_id", "course_run_id")),
        foreign_keys={**USER_FK, "course_run_id": "courses_courserun(id)"},
    ),
    # 3.9
    Table(
        "courses_courseruncertificate",
        columns(
            TIMESTAMPS
            + """
            id                            integer       NOT NULL
            user_id                       integer       NOT NULL
            uuid                          uuid          NOT NULL
            is_revoked                    boolean       NOT NULL
            issue_date                    timestamptz   NOT NULL
            verifiable_credential_id      uuid          NULL
            course_run_id                 integer       NOT NULL
            certificate_page_revision_id  integer       NULL
            """
        ),
        unique=(
            pk(),
            unique("uuid"),
            unique("user_id", "course_run_id"),
            unique("verifiable_credential_id"),
        ),
        foreign_keys={
            **USER_FK,
            "verifiable_credential_id": "courses_verifiablecredential(uuid)",
            "course_run_id": "courses_courserun(id)",
            "certificate_page_revision_id": "wagtailcore_revision(id)",
        },
    ),
    # 3.10
    Table(
        "courses_programenrollment",
        columns(
            TIMESTAMPS
            + """
            id               integer       NOT NULL
            user_id          integer       NOT NULL
            change_status    varchar(20)   NULL
            active           boolean       NOT NULL
            enrollment_mode  varchar(20)   NOT NULL
            program_id       integer       NOT NULL
            """
        ),
        unique=(pk(), unique("user_id", "program_id")),
        foreign_keys={**USER_FK, "program_id": "courses_program(id)"},
    ),
    # 3.11
    Table(
        "courses_programcertificate",
        columns(
            TIMESTAMPS
            + """
            id                            integer       NOT NULL
            user_id                       integer       NOT NULL
            uuid                          uuid          NOT NULL
            is_revoked                    boolean       NOT NULL
            issue_date                    timestamptz   NOT NULL
            verifiable_credential_id      uuid          NULL
            program_id                    integer       NOT NULL
            certificate_page_revision_id  integer       NULL
            """
        ),
        unique=(
            pk(),
            unique("uuid"),
            unique("user_id", "program_id"),
            unique("verifiable_credential_id"),
        ),
        foreign_keys={
            **USER_FK,
            "verifiable_credential_id": "courses_verifiablecredential(uuid)",
            "program_id": "courses_program(id)",
            "certificate_page_revision_id": "wagtailcore_revision(id)",
        },
    ),
    # 3.12
    Table(
        "courses_paidcourserun",
        columns(
            TIMESTAMPS
            + """
            id             integer   NOT NULL
            user_id        integer   NOT NULL
            course_run_id  integer   NOT NULL
            order_id       bigint    NOT NULL
            """
        ),
        unique=(pk(), unique("user_id", "course_run_id", "order_id")),
        foreign_keys={
            **USER_FK,
            "course_run_id": "courses_courserun(id)",
            "order_id": "ecommerce_order(id)",
        },
    ),
    # 3.13
    Table(
        "flexiblepricing_flexiblepricetier",
        columns(
            TIMESTAMPS
            + """
            id                          bigint    NOT NULL
            discount_id                 bigint    NOT NULL
            courseware_content_type_id  integer   NOT NULL
            courseware_object_id        integer   NOT NULL
            current                     boolean   NOT NULL
            income_threshold_usd        float8    NOT NULL
            """
        ),
        unique=(pk(),),
        foreign_keys={
            "discount_id": "ecommerce_discount(id)",
            "courseware_content_type_id": "django_content_type(id)",
        },
        checks=frozenset({"courseware_object_id >= 0"}),
    ),
    # 3.14
    Table(
        "flexiblepricing_flexibleprice",
        columns(
            TIMESTAMPS
            + """
            id                          bigint         NOT NULL
            user_id                     integer        NOT NULL
            status                      varchar(30)    NOT NULL
            income_usd                  float8         NULL
            original_income             float8         NULL
            original_currency           varchar(10)    NULL
            country_of_income           varchar(100)   NULL
            date_exchange_rate          timestamptz    NULL
            date_documents_sent         date           NULL
            justification               text           NULL
            country_of_residence        text           NOT NULL
            cms_submission_id           bigint         NULL
            courseware_content_type_id  integer        NOT NULL
            courseware_object_id        integer        NOT NULL
            tier_id                     bigint         NULL
            """
        ),
        unique=(
            pk(),
            unique(
                "user_id",
                "courseware_content_type_id",
                "courseware_object_id",
                name="unique_user_courseware_object",
            ),
        ),
        foreign_keys={
            **USER_FK,
            "cms_submission_id": "flexiblepricing_flexiblepricingrequestsubmission(id)",
            "courseware_content_type_id": "django_content_type(id)",
            "tier_id": "flexiblepricing_flexiblepricetier(id)",
        },
        checks=frozenset({"courseware_object_id >= 0"}),
    ),
    # 3.13 lists ecommerce_discount's columns without the lengths of payment_type and
    # b2b_sheet_location; varchar(30) and varchar(255) are this project's choice.
    Table(
        "ecommerce_discount",
        columns(
            TIMESTAMPS
            + """
            id                   bigint          NOT NULL
            amount               numeric(20,5)   NOT NULL
            automatic            boolean         NOT NULL
            discount_type        varchar(30)     NOT NULL
            redemption_type      varchar(30)     NOT NULL
            discount_code        varchar(100)    NOT NULL
            is_bulk              boolean         NOT NULL
            max_redemptions      integer         NULL
            payment_type         varchar(30)     NULL
            activation_date      timestamptz     NULL
            expiration_date      timestamptz     NULL
            is_program_discount  boolean         NULL
            b2b_sheet_location   varchar(255)    NULL
            """
        ),
        unique=(pk(),),
        checks=frozenset({"max_redemptions >= 0"}),
    ),
    # 3.16
    Table(
        "ecommerce_product",
        columns(
            TIMESTAMPS
            + """
            id               bigint         NOT NULL
            content_type_id  integer        NOT NULL
            object_id        integer        NOT NULL
            price            numeric(7,2)   NOT NULL
            description      text           NOT NULL
            is_active        boolean        NOT NULL
            """
        ),
        unique=(pk(), unique("object_id", "content_type_id", name="unique_purchasable_object")),
        foreign_keys={"content_type_id": "django_content_type(id)"},
        checks=frozenset({"object_id >= 0"}),
        rules=frozenset({"delete_protect"}),
    ),
    # 3.17: reference_number is deliberately NOT unique
    Table(
        "ecommerce_order",
        columns(
            TIMESTAMPS
            + """
            id                bigint          NOT NULL
            state             varchar(150)    NOT NULL
            purchaser_id      integer         NOT NULL
            total_price_paid  numeric(20,5)   NOT NULL
            reference_number  varchar(255)    NULL
            gateway_type      varchar(32)     NOT NULL
            """
        ),
        unique=(pk(),),
        foreign_keys={"purchaser_id": "users_user(id)"},
    ),
    # 3.18
    Table(
        "ecommerce_line",
        columns(
            TIMESTAMPS
            + """
            id                         bigint    NOT NULL
            order_id                   bigint    NOT NULL
            product_version_id         integer   NOT NULL
            quantity                   integer   NOT NULL
            purchased_content_type_id  integer   NULL
            purchased_object_id        integer   NULL
            """
        ),
        unique=(
            pk(),
            unique(
                "order_id",
                "purchased_content_type_id",
                "purchased_object_id",
                name="unique_order_purchased_object",
            ),
        ),
        foreign_keys={
            "order_id": "ecommerce_order(id)",
            "product_version_id": "reversion_version(id)",
            "purchased_content_type_id": "django_content_type(id)",
        },
        checks=frozenset({"quantity >= 0", "purchased_object_id >= 0"}),
    ),
    # 3.19
    Table(
        "ecommerce_transaction",
        columns(
            TIMESTAMPS
            + """
            id                bigint          NOT NULL
            transaction_id    varchar(255)    NOT NULL
            order_id          bigint          NOT NULL
            amount            numeric(20,5)   NOT NULL
            data              jsonb           NOT NULL
            transaction_type  text            NOT NULL
            reason            varchar(255)    NOT NULL
            """
        ),
        unique=(pk(), unique("transaction_id")),
        foreign_keys={"order_id": "ecommerce_order(id)"},
    ),
    # 3.24: support tables the import reads, from Django and django-reversion
    Table(
        "django_content_type",
        columns(
            """
            id         integer        NOT NULL
            app_label  varchar(100)   NOT NULL
            model      varchar(100)   NOT NULL
            """
        ),
        unique=(pk(), unique("app_label", "model")),
    ),
    Table(
        "reversion_version",
        columns(
            """
            id               integer        NOT NULL
            object_id        varchar(191)   NOT NULL
            format           varchar(255)   NOT NULL
            serialized_data  text           NOT NULL
            object_repr      text           NOT NULL
            content_type_id  integer        NOT NULL
            revision_id      integer        NOT NULL
            db               varchar(191)   NOT NULL
            """
        ),
        unique=(pk(), unique("db", "content_type_id", "object_id", "revision_id")),
        foreign_keys={
            "content_type_id": "django_content_type(id)",
            "revision_id": "reversion_revision(id)",
        },
    ),
    Table(
        "reversion_revision",
        columns(
            """
            id            integer       NOT NULL
            date_created  timestamptz   NOT NULL
            comment       text          NOT NULL
            user_id       integer       NULL
            """
        ),
        unique=(pk(),),
        foreign_keys=USER_FK,
    ),
    # Stand-ins: only the key that foreign keys above point at is MITx Online's.
    Table(
        "wagtailcore_revision",
        columns("id  integer  NOT NULL"),
        unique=(pk(),),
        partial=True,
    ),
    Table(
        "b2b_contractpage",
        columns("page_ptr_id  integer  NOT NULL"),
        unique=(pk("page_ptr_id"),),
        partial=True,
    ),
    Table(
        "courses_verifiablecredential",
        columns("uuid  uuid  NOT NULL"),
        unique=(pk("uuid"),),
        partial=True,
    ),
    Table(
        "flexiblepricing_flexiblepricingrequestsubmission",
        columns("id  bigint  NOT NULL"),
        unique=(pk(),),
        partial=True,
    ),
]

TABLES_BY_NAME = {table.name: table for table in TABLES}
