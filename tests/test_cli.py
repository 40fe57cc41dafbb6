"""`snnpar.cli.main` is the one place of the error contract (snnpar.errors)."""

from __future__ import annotations

import signal

import pytest

from snnpar import cli


@pytest.fixture
def probe(monkeypatch):
    monkeypatch.setitem(cli.COMMANDS, "probe", ("probe_command", "fails on purpose"))


def test_a_user_error_is_one_line_and_exit_status_2(probe, capsys):
    assert cli.main(["probe", "user-error"]) == 2
    err = capsys.readouterr().err
    assert err == "error: model.nir is damaged: second line of a library's message; fix: export it again\n"


def test_a_bug_keeps_its_traceback(probe):
    with pytest.raises(KeyError, match="a bug"):
        cli.main(["probe", "bug"])


@pytest.mark.parametrize("what", ["interrupt", "sigterm"])
def test_ctrl_c_and_sigterm_are_one_line_and_exit_status_130(probe, capsys, what):
    before = signal.getsignal(signal.SIGTERM)
    assert cli.main(["probe", what]) == 130
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith("interrupted: snnpar probe stopped")
    assert signal.getsignal(signal.SIGTERM) is before  # main leaves the process as it found it


def test_train_help_names_the_real_data_action(capsys):
    with pytest.raises(SystemExit):
        cli.main(["train", "--help"])
    out = capsys.readouterr().out
    assert "snnpar data synth --out" in out and "snnpar data synthetic" not in out
