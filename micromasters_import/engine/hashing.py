"""One value's fingerprint hash, chosen by its type: cheap, NULL-safe, and the same everywhere.

A fingerprint (fingerprint.py) hashes every value a step reads, millions per run.
`hash_array_extended(ARRAY[value], seed)` hashes a value of any type, but it builds a
one-element array and finds the element type's hash function again for every value: on the
staged cached enrollments (a million rows) that was more than half of a per-bucket digest.
Each type's own extended hash function (the one its hash index uses) costs a fraction of it.

What every hash here keeps:
- the same value gives the same hash wherever it is computed, on the source (through
  postgres_fdw, which must ship the aggregate whole) or over the staged copy: each is a
  built-in immutable function of the value and of constants without a collation, because
  postgres_fdw ships a function of a text value only when its collation is a foreign column's;
- NULL hashes to a fixed value of its own per seed (the type's hash function returns NULL);
- every value hashes, infinite dates and timestamps included;
- a type without a hash of its own here falls back to `hash_array_extended`, which hashes any
  type with a hash opclass; one without (json, xml) cannot be fingerprinted at all, and the
  caller treats that as "changed".
"""

# The type's own extended hash function, by the type's name in pg_catalog.
FUNCTIONS = {
    "int2": "hashint2extended",
    "int4": "hashint4extended",
    "int8": "hashint8extended",
    "oid": "hashoidextended",
    "text": "hashtextextended",
    "varchar": "hashtextextended",
    "bpchar": "hashbpcharextended",
    "name": "hashnameextended",
    "char": "hashcharextended",
    "float4": "hashfloat4extended",
    "float8": "hashfloat8extended",
    "jsonb": "jsonb_hash_extended",
    "uuid": "uuid_hash_extended",
    "timestamp": "timestamp_hash_extended",
    "interval": "interval_hash_extended",
    "time": "time_hash_extended",
    "timetz": "timetz_hash_extended",
    "inet": "hashinetextended",
    "cidr": "hashinetextended",
}

# Types hashed through an immutable expression of the value. The hash index functions of
# timestamptz, date and boolean take another type, which SQL casts them to only through the
# session's time zone, or not at all: a timestamp is hashed as the UTC timestamp it is (AT
# TIME ZONE a fixed offset, which keeps the infinities), a date as its midnight, a boolean as
# 0 or 1. A numeric's hash ignores its sign (x and -x hash alike), so a negative value takes
# another seed.
ARITHMETIC = {
    "timestamptz": "timestamp_hash_extended(timezone('00:00'::interval, {value}), {seed})",
    "date": "timestamp_hash_extended({value}::timestamp, {seed})",
    "bool": "hashint4extended({value}::integer, {seed})",
    "numeric": "hash_numeric_extended({value}, CASE WHEN {value} < 0 THEN {negative} "
    "ELSE {seed} END)",
}

GENERIC = "hash_array_extended(ARRAY[{value}], {seed})"

_MASK = (1 << 64) - 1


def null_hash(seed: int) -> int:
    """The hash a NULL contributes at one seed (a column's place): fixed, non-negative (a
    bigint literal), and different per seed, so that NULLs in two columns do not cancel out
    in the xor of a row (splitmix64 of the seed)."""
    z = (seed + 1) * 0x9E3779B97F4A7C15 & _MASK
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9 & _MASK
    z = (z ^ (z >> 27)) * 0x94D049BB133111EB & _MASK
    return (z ^ (z >> 31)) & (_MASK >> 1)


def template(type_name: str | None, seed: int, nullable: bool = True) -> str:
    """SQL hashing the value `{0}` of a type (its name in pg_catalog; None if unknown) with a
    seed; `{0}` may appear more than once.

    NULL is tested with CASE, not coalesce: postgres_fdw (15) ships no COALESCE, and one
    unshippable hash makes it fetch every row to aggregate locally. A value the caller knows
    is never NULL (`nullable=False`) skips the test, so that an expensive expression is not
    computed twice (a NULL would then hash to NULL).
    """
    null = null_hash(seed)
    if type_name in FUNCTIONS:
        hashed = f"{FUNCTIONS[type_name]}({{0}}, {seed})"
    elif type_name in ARITHMETIC:
        hashed = ARITHMETIC[type_name].format(value="{0}", seed=seed, negative=-1 - seed)
    else:
        hashed = GENERIC.format(value="{0}", seed=seed)
    if not nullable:
        return hashed
    return f"CASE WHEN {{0}} IS NULL THEN {null} ELSE {hashed} END"


def expression(value: str, type_name: str | None, seed: int) -> str:
    """`template` applied to a column name (or an SQL expression), as text."""
    return template(type_name, seed).format(value)


# The type of every column of a relation, by its (base) type's name in pg_catalog; a column of
# another schema's type is None (hashed generically).
TYPES_SQL = """
SELECT a.attname, CASE WHEN b.typnamespace = 'pg_catalog'::regnamespace THEN b.typname END
  FROM pg_attribute a
  JOIN pg_type t ON t.oid = a.atttypid
  JOIN pg_type b ON b.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
 WHERE a.attrelid = to_regclass(CASE WHEN %(schema)s::text IS NULL THEN quote_ident(%(name)s)
                                     ELSE format('%%I.%%I', %(schema)s, %(name)s) END)
   AND a.attnum > 0 AND NOT a.attisdropped
"""


def column_types(cursor, schema: str | None, name: str) -> dict[str, str | None]:
    """The column types of a table (in a schema, `pg_temp` included, or on the search path),
    read from the local catalog: for a mounted table, the types IMPORT FOREIGN SCHEMA gave it,
    which are the source's. Empty if there is no such table."""
    cursor.execute(TYPES_SQL, {"schema": schema, "name": name})
    return dict(cursor.fetchall())
