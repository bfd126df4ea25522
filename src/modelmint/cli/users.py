"""`modelmint users ...`: people who sign in, their roles and their access tokens
(docs/security.md). Passwords come from a prompt or --password-stdin, never an argument."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from modelmint.cli._common import JsonOpt, console, print_json, state, table
from modelmint.errors import InvalidInput

app = typer.Typer(help="Users, roles and personal access tokens.", no_args_is_help=True)
token_app = typer.Typer(
    help="A user's personal access tokens for the admin API.", no_args_is_help=True
)
app.add_typer(token_app, name="token")

NameArg = Annotated[str, typer.Argument(help="The user's name, e.g. alice.")]
StdinOpt = Annotated[
    bool,
    typer.Option("--password-stdin", help="Read the password from the first line of stdin."),
]


def _password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        if not line:
            raise InvalidInput("--password-stdin: stdin is empty; pipe the password in")
        return line.rstrip("\r\n")
    if not sys.stdin.isatty():
        raise InvalidInput("no terminal to ask for a password; pipe it in with --password-stdin")
    return typer.prompt("password", hide_input=True, confirmation_prompt=True)


def _store(ctx: typer.Context):
    return state(ctx).workspace().store


def _show(users: list[dict], title: str) -> None:
    console.print(
        table(
            title,
            ["name", "role", "tenant", "e-mail", "state"],
            [
                [
                    u["name"],
                    u["role"],
                    u["tenant"],
                    u["email"],
                    "disabled"
                    if u["disabled"]
                    else ("no password" if not u["has_password"] else "active"),
                ]
                for u in users
            ],
        )
    )


@app.command("create")
def create(
    ctx: typer.Context,
    name: NameArg,
    role: Annotated[
        str, typer.Option("--role", help="admin, operator, billing, viewer, or developer.")
    ],
    email: Annotated[str | None, typer.Option("--email")] = None,
    tenant: Annotated[
        str | None, typer.Option("--tenant", help="The tenant of a developer.")
    ] = None,
    password_stdin: StdinOpt = False,
    no_password: Annotated[
        bool, typer.Option("--no-password", help="Tokens only, until a password is set.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Create a user (asks for the password twice, or reads it with --password-stdin)."""
    from modelmint import people

    password = None if no_password else _password(password_stdin)
    u = people.create_user(
        _store(ctx), name, role=role, password=password, email=email, tenant=tenant
    )
    if as_json:
        print_json(u)
    else:
        console.print(f"[green]created[/] {u['role']} {u['name']}")


@app.command("list")
def list_users(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Every user, with role, tenant and state."""
    from modelmint import people

    users = people.list_users(_store(ctx))
    if as_json:
        print_json(users)
    else:
        _show(users, f"{len(users)} users")


@app.command("set-role")
def set_role(
    ctx: typer.Context,
    name: NameArg,
    role: Annotated[str, typer.Argument(help="admin, operator, billing, viewer, developer.")],
    tenant: Annotated[str | None, typer.Option("--tenant")] = None,
) -> None:
    """Change a user's role (their sessions end; tokens act with the new role)."""
    from modelmint import people

    u = people.set_role(_store(ctx), name, role, tenant=tenant)
    console.print(f"{u['name']} is now {u['role']}")


@app.command("disable")
def disable(ctx: typer.Context, name: NameArg) -> None:
    """Disable a user: sessions and tokens stop working on their next request."""
    from modelmint import people

    people.set_disabled(_store(ctx), name, True)
    console.print(f"{name} is disabled")


@app.command("enable")
def enable(ctx: typer.Context, name: NameArg) -> None:
    """Re-enable a user (also lifts a lockout)."""
    from modelmint import people

    people.set_disabled(_store(ctx), name, False)
    console.print(f"{name} is enabled")


@app.command("reset-password")
def reset_password(ctx: typer.Context, name: NameArg, password_stdin: StdinOpt = False) -> None:
    """Set a new password (the user's sessions end)."""
    from modelmint import people

    people.set_password(_store(ctx), name, _password(password_stdin))
    console.print(f"password of {name} changed")


@token_app.command("create")
def token_create(
    ctx: typer.Context,
    name: NameArg,
    label: Annotated[str | None, typer.Option("--name", help="What the token is for.")] = None,
    expires_in: Annotated[
        str | None, typer.Option("--expires-in", help="e.g. 90d (1 minute to 10 years).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """A personal access token for the admin API, acting with the user's role (shown once)."""
    from modelmint import people
    from modelmint.billing import ranges

    lifetime = ranges.duration(expires_in, "--expires-in") if expires_in else None
    token, rec = people.create_token(_store(ctx), name, name=label, lifetime=lifetime)
    if as_json:
        print_json({"token": token, **rec})
        return
    console.print(f"token for {name} (shown once; keep it secret):")
    typer.echo(token)


@token_app.command("list")
def token_list(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(help="Only this user's tokens.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Tokens with their prefix, use and state (never the token)."""
    from modelmint import people

    tokens = people.list_tokens(_store(ctx), name)
    if as_json:
        print_json(tokens)
        return
    console.print(
        table(
            f"{len(tokens)} tokens",
            ["id", "user", "name", "prefix", "expires", "last used", "revoked"],
            [
                [
                    t["id"],
                    t["user"],
                    t["name"],
                    t["prefix"],
                    t["expires_at"],
                    t["last_used_at"],
                    t["revoked_at"],
                ]
                for t in tokens
            ],
        )
    )


@token_app.command("revoke")
def token_revoke(
    ctx: typer.Context, token_id: Annotated[str, typer.Argument(help="From `users token list`.")]
) -> None:
    """Revoke a token; it fails on its next request."""
    from modelmint import people

    people.revoke_token(_store(ctx), token_id)
    console.print(f"token {token_id} revoked")
