"""What every bench shares: the repository on ``sys.path``, where PostgreSQL and Redis are, and a fresh
shop database. Not a benchmark itself.

BENCH_DATABASE_URL / BENCH_REDIS_URL choose another PostgreSQL database (its schema is dropped) or Redis
database than the defaults.
"""

from __future__ import annotations

import os
import socket
import sys
import uuid

from sqlalchemy import create_engine, text

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

PG_URL = os.environ.get("BENCH_DATABASE_URL") or "postgresql+psycopg://postgres@127.0.0.1:5432/test"
REDIS_URL = os.environ.get("BENCH_REDIS_URL") or "redis://127.0.0.1:6379/14"


def reachable(port: int) -> bool:
    """Does a server answer on 127.0.0.1:``port``?"""
    try:
        socket.create_connection(("127.0.0.1", port), 1).close()
        return True
    except OSError:
        return False


def reset_pg() -> None:
    """An empty ``public`` schema in the bench's PostgreSQL database (a run left behind is cut off first)."""
    engine = create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"))
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def database_url(kind: str, tmp: str) -> str:
    """A fresh shop database: a new SQLite file under ``tmp``, or the emptied PostgreSQL database."""
    if kind == "postgresql":
        reset_pg()
        return PG_URL
    return f"sqlite:///{os.path.join(tmp, f'shop-{uuid.uuid4().hex[:6]}.sqlite3')}"
