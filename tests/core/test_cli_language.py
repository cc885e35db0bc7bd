"""The command line in English and Korean: every command's help, its errors, its tables
and progress lines follow `--lang`/LANG; `--json` output does not."""

import argparse
import json
import re

import pytest

from core import i18n
from core.cli import all_parsers, build_parser, main, set_cli_language
from core.cli.columns import display_width


def _english_parsers() -> dict[str, argparse.ArgumentParser]:
    """Every parser, by its command words ("", "train", "runs list"...), built in English
    (argparse's own words too: they follow the LANGUAGE variable the CLI sets)."""
    set_cli_language(["--lang", "en"])
    return {p.prog.removeprefix("python -m core").strip(): p for p in all_parsers(build_parser())}


COMMANDS = [p.prog.removeprefix("python -m core").strip() for p in all_parsers(build_parser())]


def _help_texts(parser: argparse.ArgumentParser) -> list[str]:
    """What the parser's help says in sentences: its description, each option's and each
    sub-command's help (so a new option is checked too)."""
    texts = [parser.description]
    for action in parser._actions:
        texts.append(action.help)
        if isinstance(action, argparse._SubParsersAction):
            texts += [choice.help for choice in action._choices_actions]
    return [t for t in texts if t and t != argparse.SUPPRESS and any(c.isalpha() for c in t)]


def _headings(parser: argparse.ArgumentParser) -> list[str]:
    """The titles of the parser's shown argument groups, as heading lines ("data:")."""
    return [f"{g.title}:" for g in parser._action_groups if g._group_actions]


def _help(capsys, language: str, command: str) -> str:
    with pytest.raises(SystemExit) as exited:
        main(["--lang", language, *command.split(), "--help"])
    assert exited.value.code == 0
    return capsys.readouterr().out


def _squeezed(text: str) -> str:
    """`text` without whitespace: argparse wraps help lines wherever it likes."""
    return "".join(text.split())


def test_every_command_is_checked():
    assert {"", "train", "runs list", "data check", "augment preview", "worker"} <= set(COMMANDS)
    train = _english_parsers()["train"]
    assert len(_help_texts(train)) >= 25 and "devices:" in _headings(train)


@pytest.mark.parametrize("command", COMMANDS)
def test_korean_help_leaves_no_english_help_and_fits_the_terminal(command, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    english_texts = _help_texts(_english_parsers()[command])
    english, korean = _help(capsys, "en", command), _help(capsys, "ko", command)
    for text in english_texts:  # the check below could fail: English shows every one
        assert _squeezed(text) in _squeezed(english), text
    left = [text for text in english_texts if _squeezed(text) in _squeezed(korean)]
    headings = _headings(_english_parsers()[command])
    assert set(headings) <= set(english.splitlines())
    left += sorted(set(headings) & set(korean.splitlines()))
    assert not left, f"English help left in `{command} --help` in Korean: {left}"
    assert "사용법:" in korean and "옵션:" in korean
    # Korean characters take two columns: wrapped by columns, no line runs past the width.
    wide_lines = [line for line in korean.splitlines() if display_width(line) != len(line)]
    assert wide_lines and max(display_width(line) for line in wide_lines) <= 80


def test_an_error_sentence_in_korean(tmp_path, capsys):
    argv = ["augment", "preview", "--image", str(tmp_path / "cat.png"), "--preset", "none"]
    argv += ["--n", "0", "--out", str(tmp_path / "out")]
    assert main(["--lang", "ko", *argv]) == 2
    assert capsys.readouterr().err == (
        "오류: --n은 1 이상, --seed는 0 이상, --size는 8 이상이어야 합니다.\n"
    )
    assert main(argv) == 2
    assert capsys.readouterr().err == (
        "error: --n must be at least 1, --seed at least 0 and --size at least 8.\n"
    )


def test_argparse_errors_in_korean(capsys):
    with pytest.raises(SystemExit):
        main(["--lang", "ko", "augment", "preview", "--image", "a.png", "--out", "x"])
    assert "오류: 다음 인자 중 하나가 필요합니다: --preset --config" in capsys.readouterr().err


@pytest.fixture
def two_runs(make_run):
    history = [{"loss": 0.7, "accuracy": 0.5, "val_loss": 0.69, "val_accuracy": 0.55}]
    finished = make_run(name="작은 CNN", history=history, summary={"val_accuracy": 0.55,
                        "val_ci_low": 0.4, "val_ci_high": 0.7, "val_n": 40})  # fmt: skip
    stopped = make_run(name="stopped early", status="stopped")
    return finished, stopped


def test_runs_list_in_korean_with_its_columns_aligned(two_runs, capsys, monkeypatch):
    monkeypatch.setenv("LANG", "ko_KR.UTF-8")
    monkeypatch.delenv("LC_ALL")
    monkeypatch.delenv("LC_MESSAGES", raising=False)
    assert main(["runs", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header, rows, worker = lines[0], lines[1:3], lines[-1]
    for words in ("이름", "방법", "상태", "에폭", "검증 정확도(95% 신뢰구간)", "생성"):
        assert words in header
    assert worker == "워커: 실행되지 않음, 대기 0개"
    assert all(re.search(r"\d{4}년 \d{1,2}월 \d{1,2}일 \d\d:\d\d$", row) for row in rows)

    def column(line: str, text: str) -> int:  # the terminal column where `text` starts
        return display_width(line[: line.index(text)])

    status_at = column(header, "상태")
    assert {column(row, status) for row, status in zip(rows, ("중지됨", "완료"), strict=True)} == {
        status_at
    }
    name_at = column(header, "방법")  # after the Korean run name, still in line
    assert column(rows[1], "scratch") == name_at == column(rows[0], "scratch")


def test_runs_show_in_korean(two_runs, capsys):
    finished, _stopped = two_runs
    assert main(["--lang", "ko", "runs", "show", str(finished.id)]) == 0
    out = capsys.readouterr().out
    for words in ("상태" + " " * 7 + "완료", "설정", "요약", "검증 손실", "별도 데이터 평가"):
        assert words in out


def test_json_output_is_the_same_in_both_languages(two_runs, capsys):
    finished, _stopped = two_runs
    for argv in (["runs", "list", "--json"], ["runs", "show", str(finished.id), "--json"]):
        assert main(argv) == 0
        english = capsys.readouterr().out
        assert main(["--lang", "ko", *argv]) == 0
        assert capsys.readouterr().out == english and json.loads(english)


def test_training_progress_line_in_korean(capsys):
    from core.cli.train_cmd import _print_epoch

    figures = {"loss": 0.5, "accuracy": 0.75, "val_loss": 0.6, "val_accuracy": 0.7, "seconds": 2}
    _print_epoch(1, 3, figures)
    i18n.set_language("ko")
    _print_epoch(1, 3, figures)
    english, korean = capsys.readouterr().err.splitlines()
    assert english == (
        "epoch 1/3  loss 0.5000  accuracy 0.7500  val_loss 0.6000  val_accuracy 0.7000  2.0 s"
    )
    assert korean == (
        "에폭 1/3  손실 0.5000  정확도 0.7500  검증 손실 0.6000  검증 정확도 0.7000  2.0초"
    )


def test_an_unknown_preset_is_refused_in_korean():
    from core.cli.train_cmd import augment_setting
    from core.errors import LabError

    i18n.set_language("ko")
    with pytest.raises(
        LabError, match=r"^알 수 없는 이미지 증가 프리셋 'nope'입니다\. .* JSON을 쓰세요\.$"
    ):
        augment_setting("nope")
