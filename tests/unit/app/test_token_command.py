"""`qpay-graph token --subject NAME`: the token's `sub` names its holder."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.cli import MAX_SUBJECT_LENGTH, main
from app.staff_tokens import StaffTokens

SECRET = "c" * 48


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no .env of the checkout
    monkeypatch.setenv("AUTH_JWT_SECRET", SECRET)
    monkeypatch.setenv("DATA_DIR", str(tmp_path))


def printed_token(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    main(["token", *argv])
    return capsys.readouterr().out.strip()


def test_the_subject_given_is_the_tokens_sub(
    capsys: pytest.CaptureFixture[str],
) -> None:
    token = printed_token(capsys, "--subject", "dr.bold")

    viewer = StaffTokens(SECRET).verify(token)
    assert viewer is not None and viewer.subject == "dr.bold"


def test_without_a_subject_the_sub_is_staff(
    capsys: pytest.CaptureFixture[str],
) -> None:
    viewer = StaffTokens(SECRET).verify(printed_token(capsys))

    assert viewer is not None and viewer.subject == "staff"


@pytest.mark.parametrize(
    "subject",
    ["", " dr.bold", "dr\nbold", "x" * (MAX_SUBJECT_LENGTH + 1)],
    ids=["empty", "padded", "newline", "too-long"],
)
def test_a_subject_nobody_can_read_is_refused(
    subject: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as refused:
        main(["token", "--subject", subject])

    assert refused.value.code == 2
    assert "--subject" in capsys.readouterr().err
