"""Deterministic pseudo-random SQL expressions, and the learner identities built from them.

The demo must be fast at 200,000 learners, so every row is generated on the database server
by set-based SQL, never row by row from Python; and it must be reproducible, so nothing uses
`random()`. Every "random" choice is instead a hash of the row's key (user id, attempt id...)
and of the seed: `hashint8extended(key, seed)`, a built-in that is fast, stable across
sessions, and the same in every database of one server. The MITx Online side relies on that:
it recomputes the linked learners' usernames in the target database with the very same
expressions (`linked_sql`, `uid_sql`...), instead of reading 100,000 names back from the
source.
"""

import zlib

MAX_SEED = 2**31 - 1
_MASK48 = 2**48 - 1

# Names are ASCII on purpose: they become usernames and e-mail addresses.
FIRST_NAMES = (
    "Jane", "Arjun", "Mei", "Carlos", "Amara", "Yusuf", "Olga", "Kwame", "Sofia", "Hiroshi",
    "Fatima", "Lucas", "Priya", "Mateo", "Chen", "Aisha", "Noah", "Ines", "Tariq", "Elena",
    "Kofi", "Ana", "Ravi", "Leila", "Diego", "Yuki", "Omar", "Hannah", "Thabo", "Marta",
    "Sanjay", "Nadia", "Pedro", "Zara", "Ivan", "Grace", "Emeka", "Lina", "Jonas", "Rosa",
)  # fmt: skip
LAST_NAMES = (
    "Doe", "Sharma", "Chen", "Garcia", "Okafor", "Demir", "Ivanova", "Mensah", "Rossi", "Tanaka",
    "Haddad", "Silva", "Patel", "Lopez", "Wang", "Bello", "Smith", "Costa", "Khan", "Petrova",
    "Asante", "Santos", "Iyer", "Nasser", "Ramirez", "Sato", "Farouk", "Muller", "Nkosi", "Novak",
    "Gupta", "Karimi", "Alves", "Ahmed", "Volkov", "Kim", "Obi", "Nguyen", "Berg", "Morales",
)  # fmt: skip
# (ISO country, share of learners), roughly MicroMasters' audience.
COUNTRIES = (
    ("US", 0.22), ("IN", 0.18), ("CN", 0.06), ("BR", 0.06), ("NG", 0.05), ("MX", 0.05),
    ("DE", 0.04), ("GB", 0.04), ("ES", 0.04), ("CO", 0.03), ("EG", 0.03), ("PK", 0.03),
    ("KE", 0.03), ("FR", 0.03), ("CA", 0.03), ("GH", 0.03), ("TR", 0.03), ("PH", 0.02),
)  # fmt: skip

# One learner in this many is linked to a MITx Online username that no MITx Online account
# has (renamed or deleted there): the import reports them as `unknown_mitxonline_user`.
MISSING_EVERY = 151
MISSING_REMAINDER = 3


def _tag(name: str) -> int:
    """A stable number for a tag name, so each kind of choice gets its own hash stream."""
    return zlib.crc32(name.encode())


def check_seed(seed: int) -> int:
    """Seeds are combined with 32-bit tags into one bigint hash seed, so they are bounded."""
    if not 0 <= seed <= MAX_SEED:
        raise ValueError(f"the seed must be between 0 and {MAX_SEED}")
    return seed


class Rand:
    """Builds SQL expressions of deterministic pseudo-random values for one seed.

    `u(tag, *keys)` is uniform in [0, 1); `i(tag, n, *keys)` an integer in [0, n). The keys
    are SQL integer expressions (e.g. `"u.id"`); up to three are combined into one bigint.
    """

    def __init__(self, seed: int):
        self.seed = check_seed(seed)

    def hash(self, tag: str, *keys: str) -> str:
        """A 64-bit hash of the keys, for the tag and this seed."""
        if not 1 <= len(keys) <= 3:
            raise ValueError("one to three keys")
        key = f"({keys[0]})::bigint"
        for part in keys[1:]:
            key = f"({key} * 1000003 + ({part}))"
        return f"hashint8extended({key}, {self.seed * 2**32 + _tag(tag)})"

    def u(self, tag: str, *keys: str) -> str:
        """Uniform in [0, 1)."""
        return f"(({self.hash(tag, *keys)} & {_MASK48})::float8 / {_MASK48 + 1}.0)"

    def i(self, tag: str, n: int, *keys: str) -> str:
        """Uniform integer in [0, n)."""
        return f"(floor({self.u(tag, *keys)} * {int(n)})::int)"

    def pick(self, tag: str, values: tuple[str, ...], *keys: str) -> str:
        """One of the given strings, uniformly."""
        return f"({sql_array(values)})[1 + {self.i(tag, len(values), *keys)}]"

    @staticmethod
    def choose(value: str, choices: tuple[tuple[str, float], ...]) -> str:
        """One of the strings, with the given weights (normalised), by a uniform `value`.

        `value` should be a column of a subquery holding one `u(...)`, so the hash is
        computed once per row rather than once per branch.
        """
        total = sum(weight for _, weight in choices)
        cumulative = 0.0
        branches = []
        for text, weight in choices[:-1]:
            cumulative += weight / total
            branches.append(f"WHEN {value} < {cumulative!r} THEN {sql_literal(text)}")
        return f"(CASE {' '.join(branches)} ELSE {sql_literal(choices[-1][0])} END)"


def sql_literal(text: str) -> str:
    """A string literal for constants written into generated SQL (never user input)."""
    return "'" + text.replace("'", "''") + "'"


def sql_array(values: tuple[str, ...]) -> str:
    """A text[] literal of constants."""
    return "ARRAY[" + ", ".join(sql_literal(v) for v in values) + "]::text[]"


# --- learner identities, shared by the source and the MITx Online side -----------------------


def linked_sql(rand: Rand, user_id: str) -> str:
    """Whether the learner has a `mitxonline` social account: about half, plus the missing."""
    return f"({missing_sql(user_id)} OR {rand.u('linked', user_id)} < 0.5)"


def missing_sql(user_id: str) -> str:
    """Whether the learner's MITx Online username matches no MITx Online account."""
    return f"(({user_id}) % {MISSING_EVERY} = {MISSING_REMAINDER})"


def first_name_sql(rand: Rand, user_id: str) -> str:
    """The learner's first name."""
    return rand.pick("first_name", FIRST_NAMES, user_id)


def last_name_sql(rand: Rand, user_id: str) -> str:
    """The learner's last name."""
    return rand.pick("last_name", LAST_NAMES, user_id)


def uid_sql(rand: Rand, user_id: str) -> str:
    """The MITx Online username (the `mitxonline` social uid): `jane_doe_42`."""
    first, last = first_name_sql(rand, user_id), last_name_sql(rand, user_id)
    return f"(lower({first}) || '_' || lower({last}) || '_' || ({user_id})::text)"


def edx_uid_sql(rand: Rand, user_id: str) -> str:
    """The edX.org username (the `edxorg` social uid): `janedoe42`."""
    first, last = first_name_sql(rand, user_id), last_name_sql(rand, user_id)
    return f"(lower({first}) || lower({last}) || ({user_id})::text)"


def email_sql(rand: Rand, user_id: str) -> str:
    """The learner's e-mail address, the same on both sides: `jane.doe42@example.com`."""
    first, last = first_name_sql(rand, user_id), last_name_sql(rand, user_id)
    return f"(lower({first}) || '.' || lower({last}) || ({user_id})::text || '@example.com')"


def joined_sql(rand: Rand, user_id: str) -> str:
    """When the learner joined MicroMasters: between September 2016 and mid 2022."""
    return (
        f"(timestamptz '2016-09-01 00:00+00' + {rand.u('joined', user_id)} * interval '2100 days')"
    )


def linked_on_sql(rand: Rand, user_id: str) -> str:
    """When the learner linked a MITx Online account (from mid 2022, when it opened to them).

    The source's `mitxonline` social row and the MITx Online account share this moment.
    """
    return (
        f"(greatest({joined_sql(rand, user_id)}, timestamptz '2022-06-01 00:00+00')"
        f" + {rand.u('linked_on', user_id)} * interval '500 days')"
    )
