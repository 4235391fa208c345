"""The command line as a native tool: --version, completion, help that fits and teaches, one option
vocabulary across commands, outputs that scripts read (info, train/average --json), TensorBoard."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
import typing
from pathlib import Path

import pytest
import typer.core
import typer.main
from conftest import TINY_MODEL, run_nmt
from typer.testing import CliRunner

from nmt_cli import __version__
from nmt_cli.cli import app

COMMAND = typer.main.get_command(app)
COMMANDS = sorted(COMMAND.commands)  # type: ignore[attr-defined]

# One name, one meaning (docs/cli.md): a word every help text of the option has.
MEANINGS = {
    "--out": "director",  # a directory the command writes (prepare, train, demo-corpus)
    "--output": "file",  # a file ('-' = stdout)
    "--quiet": "Less on stderr",
    "--json": "JSON on stdout",
    "--seed": "Random seed",
    "--threads": "CPU threads",
    "--model": "Run directory or checkpoint",
    "--beam": "Beam size",
    "--alpha": "length-normalisation",
    "--batch-size": "Sentences per batch",
    "--max-len-ratio": "Output pieces per source piece",
    "--dev-size": "Dev pairs",
    "--test-size": "Test pairs",
    "--help": "Show this message",
    "--config": "YAML file",
    "--max-src-len": "Longest source, in pieces",
    "--quantize": "int8 weights",
    "--checkpoint": "Which checkpoint",
    "--strict-utf8": "Stop on invalid UTF-8",
    "--device": "Where to",
}
# "-o" is where the output goes: --out for a directory, --output for a file.
SHORT_FAMILIES = {"-o": {"--out", "--output"}}


def visible_params(name: str) -> list[typing.Any]:
    return [p for p in COMMAND.commands[name].params if not getattr(p, "hidden", False)]  # type: ignore[attr-defined]


def kind(param: typing.Any) -> str:
    """flag, number, choice or text (a path is text)."""
    if getattr(param, "is_flag", False):
        return "flag"
    annotation = param.type_descriptor.annotation
    while typing.get_origin(annotation) in (typing.Union, list) or " | " in str(annotation):
        annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
    if typing.get_origin(annotation) is typing.Literal:
        return "choice"
    return "number" if annotation in (int, float) else "text"


def help_text(*args: str, columns: int) -> str:
    proc = run_nmt(*args, "--help", env={"COLUMNS": str(columns), "TERM": "dumb"})
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout.decode()


def test_version_names_nmt_and_its_libraries_without_loading_torch() -> None:
    proc = run_nmt("--version")
    assert proc.returncode == 0
    line = proc.stdout.decode().strip()
    assert re.fullmatch(rf"nmt {re.escape(__version__)} \(python [\d.]+, torch \S+, .*\)", line), line
    code = "import sys; from nmt_cli.cli.common import version_line as v; v(); print('torch' in sys.modules)"
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"
    )


def test_shell_completion_completes_commands_options_and_choices() -> None:
    nmt = Path(sys.executable).parent / "nmt"
    if not nmt.exists():
        pytest.skip("the nmt console script is not installed next to this interpreter")

    def complete(words: str) -> list[str]:
        env = {**os.environ, "_NMT_COMPLETE": "complete_bash", "COMP_WORDS": words}
        env["COMP_CWORD"] = str(len(words.split()) - (0 if words.endswith(" ") else 1))
        proc = subprocess.run([str(nmt)], env=env, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.split()

    assert complete("nmt tra") == ["train", "translate"]
    assert "--label-smoothing" in complete("nmt train --lab")
    assert complete("nmt train --cell ") == ["gru", "lstm"]
    assert "--install-completion" in help_text(columns=100)


@pytest.mark.parametrize("columns", [80, 100])
@pytest.mark.parametrize("command", [*COMMANDS, ""])
def test_help_fits_the_width_names_every_option_in_full_and_shows_examples(
    command: str, columns: int
) -> None:
    text = help_text(*([command] if command else []), columns=columns)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= columns
    assert "…" not in text
    params = visible_params(command) if command else COMMAND.params
    for param in (p for p in params if isinstance(p, typer.core.TyperOption)):
        for name in [*param.opts, *param.secondary_opts]:
            if f"--[no-]{name.removeprefix('--').removeprefix('no-')}" in text:
                continue
            assert re.search(rf"(^|[\s,]){re.escape(name)}\b", text), f"{command}: {name} not shown in full"
    examples = text[text.index("Examples") :].splitlines()
    assert sum(1 for line in examples if re.match(rf"│ .*nmt {command}", line)) >= 2


@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_has_help_and_a_panel(command: str) -> None:
    for param in visible_params(command):
        assert str(param.help or "").strip(), f"nmt {command} {param.opts}: no help text"
        if isinstance(param, typer.core.TyperOption) and param.name != "help":
            has_panels = any(getattr(p, "rich_help_panel", None) for p in visible_params(command))
            assert getattr(param, "rich_help_panel", None) or not has_panels, f"{command} {param.opts}"


def test_the_same_option_name_means_the_same_thing_in_every_command() -> None:
    uses: dict[str, list[tuple[str, typing.Any]]] = {}
    for command in COMMANDS:
        for param in visible_params(command):
            if isinstance(param, typer.core.TyperOption):
                for name in [*param.opts, *param.secondary_opts]:
                    uses.setdefault(name, []).append((command, param))
    for name, found in uses.items():
        if len(found) < 2:
            continue
        if name in SHORT_FAMILIES:
            longs = {o for _, p in found for o in p.opts if o.startswith("--")}
            assert longs <= SHORT_FAMILIES[name], (name, longs)
            continue
        if not name.startswith("--"):
            longs = {o for _, p in found for o in p.opts if o.startswith("--")}
            assert len(longs) == 1, f"{name} is short for {sorted(longs)}"
            continue
        assert name in MEANINGS, f"{name} is shared by {[c for c, _ in found]}: add its meaning to MEANINGS"
        kinds = {kind(p) for _, p in found}
        assert len(kinds) == 1, f"{name} takes different values across commands: {kinds}"
        for command, param in found:
            assert MEANINGS[name].lower() in str(param.help).lower(), f"nmt {command} {name}: {param.help}"
    metavars = {p.metavar for c in COMMANDS for p in visible_params(c) if "--out" in p.opts}
    assert metavars == {"DIR"}


def test_ids_agree_between_translate_json_and_evaluate_per_sentence(
    run_dir: Path, corpus_dir: Path, tmp_path: Path
) -> None:
    src = (corpus_dir / "dev.en").read_text().splitlines()[:6]
    refs = (corpus_dir / "dev.es").read_text().splitlines()[:6]
    translated = run_nmt("translate", "-m", str(run_dir), "--json", stdin="\n".join(src) + "\n")
    assert translated.returncode == 0, translated.stderr.decode()
    rows = [json.loads(line) for line in translated.stdout.decode().splitlines()]
    hyp, ref = tmp_path / "hyp", tmp_path / "ref"
    hyp.write_text("".join(r["hyp"] + "\n" for r in rows))
    ref.write_text("".join(line + "\n" for line in refs))
    scored = run_nmt("evaluate", "-r", str(ref), str(hyp), "--per-sentence", "-", "--metrics", "chrf", "-q")
    assert scored.returncode == 0 and scored.stderr == b""
    per = {r["id"]: r for r in map(json.loads, scored.stdout.decode().splitlines())}
    assert sorted(per) == [r["id"] for r in rows] == list(range(6))
    import sacrebleu

    for row in rows:  # joined on id, each score is the score of that line's translation
        expected = sacrebleu.sentence_chrf(row["hyp"], [refs[row["id"]]]).score
        assert per[row["id"]]["chrf"] == pytest.approx(expected, abs=1e-6)


def test_info_prints_to_stdout_as_a_table_json_or_csv(run_dir: Path) -> None:
    table = run_nmt("info", str(run_dir))
    assert table.returncode == 0 and table.stderr == b""
    assert b"train loss" in table.stdout and b"dev BLEU" in table.stdout
    record = json.loads(run_nmt("info", str(run_dir), "--json").stdout)
    assert [r["step"] for r in record["log"]] == list(range(1, 61))
    proc = run_nmt("info", str(run_dir), "--csv")
    assert proc.returncode == 0 and proc.stderr == b""
    rows = list(csv.DictReader(io.StringIO(proc.stdout.decode())))
    assert [int(r["step"]) for r in rows] == list(range(1, 61))
    validated = [r for r in rows if r["bleu"]]
    assert [int(r["step"]) for r in validated] == [v["step"] for v in record["validations"]]
    assert all(float(r["loss"]) > 0 for r in rows)
    assert float(validated[-1]["dev_loss"]) == pytest.approx(record["validations"][-1]["dev_loss"])
    assert run_nmt("info", str(run_dir), "--json", "--csv").returncode == 2


def test_average_json_and_its_old_option_name(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "avg.pt"
    proc = run_nmt("average", str(run_dir), "--last", "2", "-o", str(out), "--json", "-q")
    assert proc.returncode == 0 and proc.stderr == b"", proc.stderr.decode()
    summary = json.loads(proc.stdout)
    assert summary["output"] == str(out) and summary["checkpoints"] == [
        "step-00000040.pt",
        "step-00000060.pt",
    ]
    assert "torch" in summary["versions"]
    old = run_nmt("average", str(run_dir), "--last", "2", "--out", str(tmp_path / "old.pt"))
    assert old.returncode == 0 and b"--out is now -o/--output" in old.stderr
    assert (tmp_path / "old.pt").read_bytes()
    both = run_nmt("average", str(run_dir), "--out", str(out), "-o", str(out))
    assert both.returncode == 2 and both.stderr.count(b"\n") == 2  # the warning, then the error


def test_old_spellings_still_work_for_a_release_with_a_warning(run_dir: Path, tmp_path: Path) -> None:
    new = run_nmt("translate", "-m", str(run_dir), "--json", "--attention-matrix", stdin="a b\n")
    old = run_nmt("translate", "-m", str(run_dir), "--json", "--attention", stdin="a b\n")
    assert old.returncode == 0 and old.stdout == new.stdout and "attention" in json.loads(new.stdout)
    assert b"--attention is now --attention-matrix" in old.stderr and new.stderr == b""
    corpus = run_nmt(
        "demo-corpus", str(tmp_path / "c"), "--train-size", "300", "--dev-size", "2", "--test-size", "2"
    )
    assert corpus.returncode == 0 and b"is now -o/--out" in corpus.stderr
    assert (tmp_path / "c" / "train.en").exists()


def test_evaluate_quiet_means_less_on_stderr_and_score_only_the_numbers(corpus_dir: Path) -> None:
    ref, hyp = str(corpus_dir / "dev.es"), str(corpus_dir / "dev.en")
    compare = ["-r", ref, "-s", hyp, "-s", ref, "--bootstrap-samples", "20", "--metrics", "bleu"]
    loud, quiet = run_nmt("evaluate", *compare), run_nmt("evaluate", *compare, "-q")
    assert b"Paired bootstrap" in loud.stderr and quiet.stderr == b""
    assert quiet.stdout == loud.stdout and quiet.stdout.startswith(b"system\tmetric")
    only = run_nmt("evaluate", *compare, "--score-only")
    assert not only.stdout.startswith(b"system") and len(only.stdout.splitlines()) == 2


@pytest.fixture(scope="module")
def trained(
    data_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path, subprocess.CompletedProcess[bytes]]:
    """A tiny run trained through the command line without a terminal, with --json and --tensorboard."""
    pytest.importorskip("tensorboard", reason="the test extra installs tensorboard")
    work = tmp_path_factory.mktemp("cli-train")
    sizes = [f"--{k.replace('_', '-')}={v}" for k, v in TINY_MODEL.items()]
    proc = run_nmt(
        "train", str(data_dir), "--out", str(work / "run"), *sizes, "--max-steps", "12", "--valid-every", "6",
        "--log-every", "4", "--batch-tokens", "600", "--threads", "1", "--json",
        "--tensorboard", str(work / "tb"),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr.decode()
    return work / "run", work / "tb", proc


def test_train_json_summary_on_stdout(trained: tuple[Path, Path, subprocess.CompletedProcess[bytes]]) -> None:
    run, _, proc = trained
    summary = json.loads(proc.stdout)
    assert summary["step"] == 12 and summary["stopped_by"] == "max-steps"
    assert summary["last_validation"]["step"] == 12 and summary["run"] == str(run)
    assert Path(summary["checkpoints"]["last"]).exists() and summary["best"]["step"] in (6, 12)


def test_training_without_a_terminal_prints_a_plain_line_every_log_interval(
    trained: tuple[Path, Path, subprocess.CompletedProcess[bytes]],
) -> None:
    lines = [line for line in proc_lines(trained[2]) if re.match(r"nmt: step \d+/12 ", line)]
    assert [int(re.search(r"step (\d+)", line)[1]) for line in lines] == [4, 8, 12]  # type: ignore[index]
    assert all(re.search(r"loss \d+\.\d{3}  \d+ tok/s  lr \S+  \d+:\d\d:\d\d$", line) for line in lines)


def proc_lines(proc: subprocess.CompletedProcess[bytes]) -> list[str]:
    return proc.stderr.decode().splitlines()


def test_tensorboard_events_hold_the_metrics(
    trained: tuple[Path, Path, subprocess.CompletedProcess[bytes]],
) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run, board, _ = trained
    events = EventAccumulator(str(board))
    events.Reload()
    assert [e.step for e in events.Scalars("train/loss")] == [4, 8, 12]
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    dev = [m["bleu"] for m in metrics if "bleu" in m]
    assert [e.value for e in events.Scalars("dev/bleu")] == pytest.approx(dev)


def test_tensorboard_without_the_package_is_a_one_line_error(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails as when not installed
    result = CliRunner().invoke(
        app,
        [
            "train",
            str(data_dir),
            "--out",
            str(tmp_path / "run"),
            "--max-steps",
            "1",
            "--tensorboard",
            str(tmp_path / "tb"),
        ],
    )
    assert result.exit_code == 2
    assert "pip install 'nmt-cli[tensorboard]'" in result.stderr and "Traceback" not in result.stderr


def test_hf_without_the_extra_names_the_extra(tmp_path: Path) -> None:
    """As if installed without [hf]: `import datasets` fails, and --hf is a one-line usage error."""
    code = (
        "import sys; sys.modules['datasets'] = None; sys.argv = ['nmt'] + sys.argv[1:];"
        "from nmt_cli.cli import main; main()"
    )
    data = tmp_path / "pairs.jsonl"
    data.write_text('{"translation": {"en": "a", "es": "b"}}\n')
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            "prepare",
            "--hf",
            str(data),
            "--src-lang",
            "en",
            "--tgt-lang",
            "es",
            "-o",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert (
        proc.stderr == "nmt: error: --hf needs the Hugging Face datasets package: pip install 'nmt-cli[hf]'\n"
    )
    assert not (tmp_path / "out").exists()


def test_a_filesystem_that_cannot_lock_is_a_one_line_error(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import filelock

    def refuse(self: object, *args: object, **kwargs: object) -> None:
        raise NotImplementedError("FileSystem does not appear to support flock")

    monkeypatch.setattr(filelock.FileLock, "acquire", refuse)
    result = CliRunner().invoke(
        app, ["train", str(data_dir), "--out", str(tmp_path / "run"), "--max-steps", "1"]
    )
    assert result.exit_code == 1
    assert result.stderr.strip().endswith("this filesystem cannot lock files; use a local disk")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_train_json_best_is_what_best_pt_holds_the_stop_validation_included(
    data_dir: Path, tmp_path: Path
) -> None:
    """Stopped between validations, the stop-time validation can become best.pt: --json says so."""
    sizes = [f"--{k.replace('_', '-')}={v}" for k, v in TINY_MODEL.items()]
    proc = run_nmt(
        "train", str(data_dir), "--out", str(tmp_path / "run"), *sizes, "--max-steps", "15",
        "--valid-every", "10", "--valid-metric", "loss", "--batch-tokens", "600", "--threads", "1",
        "--kernels", "fast", "--json", "-q",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr.decode()
    summary = json.loads(proc.stdout)
    records = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    validations = [r for r in records if "dev_loss" in r]
    assert [r["step"] for r in validations] == [10, 15] and validations[1].get("stop")
    assert validations[1]["best"]  # the dev loss still falls steeply this early
    assert summary["best"] == {"step": 15, "score": validations[1]["dev_loss"]}
