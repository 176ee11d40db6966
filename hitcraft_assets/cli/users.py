"""`hitcraft users …`: the analytics app's accounts (add, list, remove, API tokens). Passwords and tokens are
printed once and stored only as hashes."""

from __future__ import annotations

import typer

from hitcraft_assets.cli.common import EmbeddedDatabase, UserError, say

users_app = typer.Typer(
    help="Accounts of the analytics app (`hitcraft serve`): roles, passwords, API tokens.", no_args_is_help=True
)


def _check_role(role: str) -> None:
    from hitcraft_assets.app.permissions import ROLES

    if role not in ROLES:
        raise UserError(f"--role {role!r} is not one of {', '.join(ROLES)}")


def _check_name(name: str) -> None:
    from hitcraft_assets.app.api.system import USER_NAME

    if not USER_NAME.match(name):
        raise UserError(f"user name {name!r}: use 1-64 letters, digits and . _ @ - (starting with a letter or digit)")


def add_user(name: str, role: str, actor: str = "cli") -> str:
    """Create the user with a generated password; returns the password."""
    from hitcraft_assets.app import auth
    from hitcraft_assets.store import app_users

    app_users.ensure_schema()
    password = auth.new_password()
    if not app_users.add_user(name, role, auth.hash_password(password)):
        raise UserError(f"user {name!r} exists (`hitcraft users remove {name}` first)")
    app_users.audit("user_added", actor=actor, target=name, detail={"role": role})
    return password


@users_app.command("add")
def add(
    name: str = typer.Argument(..., help="Login name."),
    role: str = typer.Option(
        ..., "--role", help="admin, product_manager, prompt_engineer, operations, engineer, enablement."
    ),  # noqa: E501
) -> None:
    """Add a user; prints a generated password once."""
    _check_name(name)
    _check_role(role)
    with EmbeddedDatabase():
        password = add_user(name, role)
    say(f"user {name} ({role}) added; password (shown once, stored hashed):")
    typer.echo(password)


@users_app.command("list")
def list_users() -> None:
    """The users and their roles."""
    from hitcraft_assets.store import app_users

    with EmbeddedDatabase():
        app_users.ensure_schema()
        for user in app_users.list_users():
            typer.echo(f"{user.name:<24} {user.role:<16} since {user.created_at:%Y-%m-%d}")


@users_app.command("remove")
def remove(name: str = typer.Argument(..., help="Login name.")) -> None:
    """Remove a user, their tokens and sessions."""
    from hitcraft_assets.store import app_users

    with EmbeddedDatabase():
        app_users.ensure_schema()
        if not app_users.remove_user(name):
            raise UserError(f"no user {name!r} (`hitcraft users list`)")
        app_users.audit("user_removed", actor="cli", target=name)
    say(f"user {name} removed")


@users_app.command("token")
def token(name: str = typer.Argument(..., help="Login name.")) -> None:
    """A new API token for a user, printed once, alone on the last line (send it as `Authorization: Bearer …`)."""
    from hitcraft_assets.app import auth
    from hitcraft_assets.store import app_users

    with EmbeddedDatabase():
        app_users.ensure_schema()
        if app_users.get_user(name) is None:
            raise UserError(f"no user {name!r} (`hitcraft users list`)")
        value = auth.new_token()
        app_users.add_token(name, value)
        app_users.audit("token_added", actor="cli", target=name)
    say(f"API token for {name} (shown once, stored hashed):")
    typer.echo(value)


@users_app.command("password")
def password(name: str = typer.Argument(..., help="Login name.")) -> None:
    """A new generated password for a user (their browser sessions end); printed once."""
    from hitcraft_assets.app import auth
    from hitcraft_assets.store import app_users

    with EmbeddedDatabase():
        app_users.ensure_schema()
        if app_users.get_user(name) is None:
            raise UserError(f"no user {name!r} (`hitcraft users list`)")
        value = auth.new_password()
        app_users.set_password_hash(name, auth.hash_password(value))
        app_users.audit("password_reset", actor="cli", target=name)
    say(f"new password for {name} (shown once):")
    typer.echo(value)
