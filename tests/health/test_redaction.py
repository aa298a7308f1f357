"""Error texts of the health check are redacted before they are cut to their length limit."""

from __future__ import annotations

import pytest
from pymongo.errors import PyMongoError

from scripts.cenode import health
from scripts.cenode.health import Credentials, check_cluster, parse_nodes

PASSWORD = "hc-Secret-0123456789abcdef"  # 26 characters
#: every 6-character piece of the password: none may be shown (the cut would leave 7 of them)
PIECES = [PASSWORD[i : i + 6] for i in range(len(PASSWORD) - 5)]


def _no_ui(node: health.NodeAddress, protocol: str, insecure: bool, timeout_s: float) -> object:
    return health._UiAnswer(f"http://{node.host}:{node.ui_port}/", True, 200)


class _Refusing:
    """A pymongo client whose every command fails with a message quoting the password."""

    class admin:  # noqa: N801 - pymongo's attribute name
        @staticmethod
        def command(name: str) -> object:
            raise PyMongoError("m" * 190 + PASSWORD + " tail")  # the password spans characters 190-215

    def close(self) -> None:
        pass


class _Socket:
    def close(self) -> None:
        pass


@pytest.mark.parametrize("raises", [True, False], ids=["check-raised", "mongo-error"])
def test_a_password_across_the_200_character_cut_is_not_shown_in_part(monkeypatch: pytest.MonkeyPatch, raises: bool) -> None:
    if raises:  # "check failed: RuntimeError: " is 28 characters: the password spans characters 193-218

        def ask(node: health.NodeAddress, timeout_s: float, credentials: object = None) -> object:
            raise RuntimeError("m" * 165 + PASSWORD + " tail")

        monkeypatch.setattr(health, "_ask_mongo", ask)
    else:  # the real hello path, with pymongo's error text quoting the password
        monkeypatch.setattr(health.socket, "create_connection", lambda *a, **k: _Socket())
        monkeypatch.setattr(health, "_client", lambda *a: _Refusing())
    monkeypatch.setattr(health, "_ask_ui", _no_ui)
    report = check_cluster(parse_nodes("10.9.9.9"), timeout_s=1.0, ui_protocol="http", credentials=Credentials(PASSWORD))
    shown = " ".join((*report.problems, *report.notes, str(report.to_dict())))
    assert not [piece for piece in PIECES if piece in shown]
    assert "***" in shown
