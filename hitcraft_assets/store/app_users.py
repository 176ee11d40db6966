"""The analytics app's accounts (schema `app`): users with a role and a password hash, API tokens (stored as SHA-256
hashes: a token is shown once and cannot be read back), and the audit log of logins, exports and user changes."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from hitcraft_assets.store import warehouse

SCHEMA = "app"
_DDL = f"""
create schema if not exists {SCHEMA};
create table if not exists {SCHEMA}.users (
    name text primary key,
    role text not null,
    password_hash text not null,
    created_at timestamptz not null default now(),
    password_changed_at timestamptz not null default now()
);
create table if not exists {SCHEMA}.api_tokens (
    token_hash text primary key,
    user_name text not null references {SCHEMA}.users (name) on delete cascade,
    created_at timestamptz not null default now(),
    last_used_at timestamptz
);
create table if not exists {SCHEMA}.audit_log (
    id bigserial primary key,
    at timestamptz not null default now(),
    actor text,
    action text not null,
    target text,
    detail jsonb,
    client text
);
create index if not exists audit_log_at on {SCHEMA}.audit_log (at);
"""


@dataclass(frozen=True)
class AppUser:
    name: str
    role: str
    password_hash: str
    created_at: datetime
    password_changed_at: datetime


def token_hash(token: str) -> str:
    """What is stored of a token: its SHA-256 (tokens are 256-bit random, so no salt or slow hash is needed)."""
    return hashlib.sha256(token.encode()).hexdigest()


def ensure_schema(url: str | None = None) -> None:
    with warehouse.connection(url) as conn:
        with conn.cursor() as cur:
            cur.execute("select pg_advisory_xact_lock(hashtext('hitcraft.create_tables'))")
            cur.execute(_DDL)
        conn.commit()


def _user(row) -> AppUser | None:
    return AppUser(*row) if row else None


_USER_COLUMNS = "name, role, password_hash, created_at, password_changed_at"


def get_user(name: str, url: str | None = None) -> AppUser | None:
    with warehouse.connection(url) as conn, conn.cursor() as cur:
        cur.execute(f"select {_USER_COLUMNS} from {SCHEMA}.users where name = %s", (name,))
        return _user(cur.fetchone())


def list_users(url: str | None = None) -> list[AppUser]:
    with warehouse.connection(url) as conn, conn.cursor() as cur:
        cur.execute(f"select {_USER_COLUMNS} from {SCHEMA}.users order by name")
        return [AppUser(*row) for row in cur.fetchall()]


def count_users(url: str | None = None) -> int:
    with warehouse.connection(url) as conn, conn.cursor() as cur:
        cur.execute(f"select count(*) from {SCHEMA}.users")
        return cur.fetchone()[0]


def add_user(name: str, role: str, password_hash: str, url: str | None = None) -> bool:
    """Create a user; False when the name is taken."""
    with warehouse.connection(url) as conn, conn.cursor() as cur:
        cur.execute(
            f"insert into {SCHEMA}.users (name, role, password_hash) values (%s, %s, %s) on conflict do nothing",
            (name, role, password_hash),
        )
        conn.commit()
        return cur.rowcount == 1


def remove_user(name: str, url: str | None = None) -> bool:
    """Delete a user and their tokens; False when there was no such user."""
    with warehouse.connection(url) as conn, conn.cursor() as cur:
        cur.execute(f"delete from {SCHEMA}.users where name = %s", (name,))
        conn.commit()
        return cur.rowcount == 1


def set_password_hash(name: str, password_hash: str, url: str | None = None) -> None:
    """A new password hash (and the time of the change, which ends older browser sessions)."""
    with warehouse.connection(url) as conn, conn.cursor() as cur:
        cur.execute(
            f"update {SCHEMA}.users set password_hash = %s, password_changed_at = now() where name = %s",
            (password_hash, name),
        )
        conn.commit()


def add_token(name: str, token: str, url: str | None = None) -> None:
    with warehouse.connection(url) as conn, conn.cursor() as cur:
        cur.execute(
            f"insert into {SCHEMA}.api_tokens (token_hash, user_name) values (%s, %s)", (token_hash(token), name)
        )
        conn.commit()


def user_of_token(token: str, url: str | None = None) -> AppUser | None:
    """The user a token belongs to (and its last use noted), or None for an unknown token."""
    with warehouse.connection(url) as conn, conn.cursor() as cur:
        cur.execute(
            f"update {SCHEMA}.api_tokens set last_used_at = now() where token_hash = %s returning user_name",
            (token_hash(token),),
        )
        row = cur.fetchone()
        conn.commit()
    return get_user(row[0], url) if row else None


def audit(action: str, *, actor: str | None, target: str | None = None, detail: dict | None = None,
          client: str | None = None, url: str | None = None) -> None:  # fmt: skip
    """One audit entry: a login (or failed login), an export, a user change."""
    with warehouse.connection(url) as conn, conn.cursor() as cur:
        cur.execute(
            f"insert into {SCHEMA}.audit_log (actor, action, target, detail, client) values (%s, %s, %s, %s, %s)",
            (actor, action, target, json.dumps(detail) if detail else None, client),
        )
        conn.commit()


def audit_entries(limit: int = 100, url: str | None = None) -> list[dict]:
    """The newest audit entries first."""
    frame = warehouse.read_frame(
        f"select at, actor, action, target, detail, client from {SCHEMA}.audit_log order by id desc limit %(n)s",
        {"n": limit},
        url,
    )
    return frame.to_dict("records")
