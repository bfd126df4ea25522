"""Browser sessions (issue 15): idle and absolute expiry, sign-out here and everywhere, and a
role change, password change or disabling ends them; the database holds only the token's hash."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from modelmint import people
from modelmint.errors import Unauthorized

PASSWORD = "correct horse battery"
IDLE = timedelta(minutes=30)
LIFE = timedelta(hours=12)
T0 = datetime(2026, 11, 15, 12, tzinfo=UTC)


@pytest.fixture
def staff(ws):
    people.create_user(ws.store, "root", role="admin", password=PASSWORD)
    people.create_user(ws.store, "ann", role="viewer", password=PASSWORD)
    return ws.store


def _open(store, name="ann", at=T0):
    token, s = people.sign_in(store, name, PASSWORD, lifetime=LIFE, address="127.0.0.1", now=at)
    return token, s


def test_a_session_lives_while_used_and_not_past_its_lifetime(staff):
    token, s = _open(staff)
    assert (s.user, s.role, s.actor) == ("ann", "viewer", "user:ann")
    assert staff.people.session(s.id) is not None and token not in json.dumps(
        staff.people.session(s.id), default=str
    )
    at = T0
    for _ in range(20):  # a request every 29 minutes keeps it alive...
        at += timedelta(minutes=29)
        if at >= T0 + LIFE:
            break
        assert people.session_of(staff, token, idle=IDLE, now=at) is not None
    # ...until the absolute lifetime
    assert people.session_of(staff, token, idle=IDLE, now=T0 + LIFE) is None
    token, _ = _open(staff)
    assert people.session_of(staff, token, idle=IDLE, now=T0 + IDLE + timedelta(seconds=1)) is None
    assert people.session_of(staff, "not a token", idle=IDLE, now=T0) is None


def test_sign_out_here_and_everywhere_and_what_else_ends_sessions(staff):
    a, _ = _open(staff)
    b, _ = _open(staff)
    people.sign_out(staff, a)
    assert people.session_of(staff, a, idle=IDLE, now=T0) is None
    assert people.session_of(staff, b, idle=IDLE, now=T0) is not None
    people.sign_out_everywhere(staff, "ann")
    assert people.session_of(staff, b, idle=IDLE, now=T0 + timedelta(seconds=1)) is None
    for change in (
        lambda: people.set_role(staff, "ann", "operator"),
        lambda: people.set_password(staff, "ann", PASSWORD),
        lambda: people.set_disabled(staff, "ann", True),
    ):
        at = datetime.now(UTC)  # after the previous change
        token, _ = _open(staff, at=at)
        assert people.session_of(staff, token, idle=IDLE, now=at) is not None
        change()
        assert people.session_of(staff, token, idle=IDLE, now=datetime.now(UTC)) is None
    with pytest.raises(Exception, match="disabled"):
        _open(staff, at=datetime.now(UTC))
    with pytest.raises(Unauthorized):
        people.sign_in(staff, "ann", "wrong password!!", lifetime=LIFE)
    actions = [e["action"] for e in staff.audit.entries(target="user:ann", limit=100)[0]]
    assert "user.sign_in" in actions and "user.sign_out_everywhere" in actions
