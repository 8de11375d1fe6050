"""The latency proxy forwards a real PostgreSQL session unchanged, only later."""

from urllib.parse import urlsplit

import psycopg
from django.db import connection

from bench.latency_proxy import LatencyProxy


def test_a_query_through_the_proxy_returns_what_the_server_says(db):
    settings = connection.settings_dict
    port = int(settings["PORT"] or 5432)
    with LatencyProxy(settings["HOST"] or "127.0.0.1", port, delay_ms=5) as proxy:
        assert proxy.port
        assert proxy.port != port
        with psycopg.connect(
            host="127.0.0.1",
            port=proxy.port,
            dbname=settings["NAME"],
            user=settings["USER"],
            password=settings["PASSWORD"] or None,
        ) as conn:
            rows = conn.execute("SELECT g, md5(g::text) FROM generate_series(1, 2000) g").fetchall()
    assert len(rows) == 2000
    assert rows[-1][1] == "08f90c1a417155361a5c4b8d297e0d78"
    assert urlsplit(f"postgres://x@127.0.0.1:{proxy.port}/y").port == proxy.port
