"""``tradeloop --help`` and each command's help are written for users, with examples kept as
written (argparse's default formatter reflowed them into one paragraph with stray backslashes)."""

from __future__ import annotations

import re

import pytest

from tradeloop.cli import COMMANDS, main

SUBCOMMANDS = [[name] for name in COMMANDS if name != "candles"] + [
    ["candles"],
    ["candles", "download"],
]


def help_text(argv: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as exited:
        main([*argv, "--help"])
    assert exited.value.code == 0
    return capsys.readouterr().out


def assert_written_for_users(text: str) -> None:
    assert "``" not in text, "reStructuredText quoting from a docstring"
    assert "tradeloop.commands" not in text, "a developer's module path"
    assert re.search(r"\\ +\S", text) is None, "a line continuation reflowed into the text"
    for line in text.splitlines():
        if line.rstrip().endswith("\\"):
            assert line.lstrip().startswith("tradeloop") or line.startswith("  "), line


def test_the_top_level_help_says_what_tradeloop_does_and_shows_examples(capsys) -> None:
    text = help_text([], capsys)
    assert_written_for_users(text)
    assert "trading strategies" in text
    assert "examples:\n  tradeloop serve" in text
    for name in COMMANDS:
        assert re.search(rf"^ +{name} +\S", text, flags=re.M), f"{name} is not listed"
    assert "'tradeloop COMMAND --help'" in text


@pytest.mark.parametrize("argv", SUBCOMMANDS, ids=" ".join)
def test_each_command_help_keeps_its_examples_one_per_line(argv, capsys) -> None:
    text = help_text(argv, capsys)
    assert_written_for_users(text)
    examples = text.split("examples:\n", 1)[1]
    commands = [line.strip() for line in examples.splitlines() if line.startswith("  tradeloop")]
    assert commands, "no example command"
    assert all(c.startswith(f"tradeloop {argv[0]}") for c in commands)
