"""`nmt evaluate`: oracle tests against the sacrebleu command line, guards, gates, comparisons."""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from nmt_cli.choices import parse_metrics
from nmt_cli.cli import app
from nmt_cli.errors import UsageError
from nmt_cli.evaluate import tokenized_count
from nmt_cli.scoring import gate_failures, parse_fail_under, per_sentence_scores, score_corpus
from nmt_cli.settings import ScoreSettings

CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"
runner = CliRunner()


# --- helpers -------------------------------------------------------------------------------------------


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path


def nmt(*args: str, input: str | None = None):
    """Run `nmt evaluate ...` in-process; stdout and stderr are captured separately."""
    return runner.invoke(app, ["evaluate", *args], input=input)


def sacrebleu(*args: str) -> str:
    """Run the real sacrebleu command line and return its stdout."""
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("SACREBLEU_FORMAT", None)
    env.pop("SACREBLEU_SEED", None)
    done = subprocess.run(
        [sys.executable, "-m", "sacrebleu", *args], capture_output=True, text=True, env=env, check=True
    )
    return done.stdout


def sacrebleu_lines(refs: list[Path], hyp: Path, metric_args: list[str], extra: list[str]) -> list[str]:
    """sacrebleu's text lines `NAME|SIG = SCORE ...` turned into our `NAME = SCORE SIG` format."""
    out = sacrebleu(*map(str, refs), "-i", str(hyp), *metric_args, "-f", "text", *extra)
    lines = []
    for line in out.splitlines():
        m = re.match(r"^\s*([^|\s]+)\|(\S+) = (\S+)", line)
        assert m, line
        lines.append(f"{m.group(1)} = {m.group(3)} {m.group(2)}")
    return lines


# Our options -> the equivalent sacrebleu options (our --lowercase covers BLEU and chrF).
SACRE_OPTS = {"--lowercase": ["-lc", "--chrf-lowercase"]}


def to_sacre(opts: list[str]) -> list[str]:
    out: list[str] = []
    it = iter(opts)
    for opt in it:
        if opt in SACRE_OPTS:
            out += SACRE_OPTS[opt]
        elif opt == "--tokenize":
            out += ["-tok", next(it)]
        elif opt == "-w":
            out += ["-w", next(it)]
        else:
            raise AssertionError(opt)
    return out


def assert_matches_sacrebleu(refs: list[Path], hyp: Path, opts: list[str]) -> None:
    """Our default output for bleu, chrf, ter (and chrf++) equals sacrebleu's, line for line."""
    ref_args = [a for r in refs for a in ("-r", str(r))]
    result = nmt(*ref_args, str(hyp), "--metrics", "bleu,chrf,ter,chrf++", *opts)
    assert result.exit_code == 0, result.stderr
    ours = result.stdout.splitlines()
    theirs = sacrebleu_lines(refs, hyp, ["-m", "bleu", "chrf", "ter"], to_sacre(opts))
    theirs += sacrebleu_lines(refs, hyp, ["-m", "chrf", "--chrf-word-order", "2"], to_sacre(opts))
    assert ours == theirs


WORDS = "the a cat dog sees runs quickly über Straße naïve garden house ran blue green".split()


def generated_pair(n: int = 60, seed: int = 7) -> tuple[list[str], list[str]]:
    """Small synthetic references and perturbed hypotheses; one hypothesis is empty."""
    rng = random.Random(seed)
    refs = []
    for _ in range(n):
        words = [rng.choice(WORDS) for _ in range(rng.randint(3, 12))]
        refs.append(" ".join(words).capitalize() + rng.choice([".", "!", "?", ""]))
    return refs, perturb(refs, seed)


def perturb(lines: list[str], seed: int) -> list[str]:
    """Word drops, swaps of neighbours, lowercased lines and one empty line."""
    rng = random.Random(seed)
    out = []
    for line in lines:
        words = line.split()
        kind = rng.randrange(4)
        if kind == 0 and len(words) > 1:
            del words[rng.randrange(len(words))]
        elif kind == 1 and len(words) > 1:
            i = rng.randrange(len(words) - 1)
            words[i], words[i + 1] = words[i + 1], words[i]
        elif kind == 2:
            words = [w.lower() for w in words]
        out.append(" ".join(words))
    out[len(out) // 2] = ""
    return out


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path]:
    refs, hyps = generated_pair()
    return write(tmp_path / "ref.txt", refs), write(tmp_path / "hyp.txt", hyps)


# --- oracle: generated text (no shared folder needed) ---------------------------------------------------


@pytest.mark.parametrize(
    "opts",
    [[], ["--lowercase"], ["--tokenize", "char"], ["--tokenize", "none", "-w", "3"], ["-w", "2"]],
    ids=["default", "lowercase", "tok-char", "tok-none-w3", "w2"],
)
def test_generated_text_equals_sacrebleu_cli(pair, opts):
    ref, hyp = pair
    assert_matches_sacrebleu([ref], hyp, opts)


def test_multiple_references_equal_sacrebleu_cli(tmp_path, pair):
    ref, hyp = pair
    ref2 = write(tmp_path / "ref2.txt", perturb(ref.read_text().splitlines(), seed=99))
    assert_matches_sacrebleu([ref, ref2], hyp, [])
    assert "nrefs:2" in nmt("-r", str(ref), "-r", str(ref2), str(hyp)).stdout


def test_json_equals_sacrebleu_json(pair):
    ref, hyp = pair
    result = nmt("-r", str(ref), str(hyp), "--json", "-w", "2")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.count("\n") == 1  # one object, one line
    ours = json.loads(result.stdout)
    theirs = json.loads(sacrebleu(str(ref), "-i", str(hyp), "-m", "bleu", "chrf", "ter", "-w", "2"))
    assert [ours["scores"][k]["score"] for k in ("bleu", "chrf", "ter")] == [t["score"] for t in theirs]
    assert [ours["scores"][k]["signature"] for k in ("bleu", "chrf", "ter")] == [
        t["signature"] for t in theirs
    ]
    assert ours["scores"]["bleu"]["verbose"] == theirs[0]["verbose_score"]
    assert ours["n_segments"] == 60 and ours["n_refs"] == 1
    assert ours["versions"]["sacrebleu"] == theirs[0]["version"]
    assert abs(ours["scores"]["bleu"]["score_exact"] - theirs[0]["score"]) <= 0.005


def test_score_only_prints_only_the_numbers_sacrebleu_prints(pair):
    ref, hyp = pair
    result = nmt("-r", str(ref), str(hyp), "--score-only")
    theirs = sacrebleu(str(ref), "-i", str(hyp), "-m", "bleu", "chrf", "ter", "-f", "text", "-b")
    assert result.stdout.splitlines() == theirs.splitlines()
    assert all(re.fullmatch(r"\d+\.\d", line) for line in result.stdout.splitlines())


def test_stdin_is_the_default_hypothesis_input(pair):
    ref, hyp = pair
    from_file = nmt("-r", str(ref), str(hyp)).stdout
    assert nmt("-r", str(ref), input=hyp.read_text()).stdout == from_file
    assert nmt("-r", str(ref), "-", input=hyp.read_text()).stdout == from_file


def test_scores_actually_respond_to_the_hypotheses(pair):
    ref, hyp = pair
    perfect = nmt("-r", str(ref), str(ref), "--score-only").stdout.split()
    perturbed = nmt("-r", str(ref), str(hyp), "--score-only").stdout.split()
    assert perfect == ["100.0", "100.0", "0.0"]
    assert perturbed != perfect


# --- oracle: real corpora -------------------------------------------------------------------------------


@pytest.mark.parametrize("corpus", ["tatoeba-en-es/dev.en", "multi30k-task1/dev.de"])
@pytest.mark.parametrize("opts", [[], ["--lowercase"], ["--tokenize", "intl", "-w", "2"]])
def test_real_corpora_equal_sacrebleu_cli(tmp_path, corpus, opts):
    ref = CORPORA / corpus
    if not ref.exists():
        pytest.skip(f"shared corpus {ref} is absent (expected ../shared/corpora next to the repository)")
    hyp = write(tmp_path / "hyp.txt", perturb(ref.read_text(encoding="utf-8").split("\n")[:-1], seed=3))
    assert_matches_sacrebleu([ref], hyp, opts)


# --- sentence-level scores ------------------------------------------------------------------------------


def test_per_sentence_equals_sacrebleu_sentence_level(tmp_path, pair):
    ref, hyp = pair
    out = tmp_path / "sent.jsonl"
    result = nmt("-r", str(ref), str(hyp), "--per-sentence", str(out), "--metrics", "bleu,chrf")
    assert result.exit_code == 0, result.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == list(range(60))
    for key in ("bleu", "chrf"):
        theirs = sacrebleu(str(ref), "-i", str(hyp), "-m", key, "-sl", "-f", "text", "-b", "-w", "4")
        assert [f"{r[key]:.4f}" for r in rows] == theirs.splitlines()
    assert rows[30]["bleu"] == 0.0 and rows[30]["chrf"] == 0.0  # the empty hypothesis is kept, scores 0


def test_per_sentence_to_stdout_keeps_stdout_pure(pair):
    ref, hyp = pair
    result = nmt("-r", str(ref), str(hyp), "--per-sentence", "-")
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == 60 and set(rows[0]) == {"id", "bleu", "chrf", "ter"}
    assert result.stderr.startswith("BLEU = ")


@settings(max_examples=25, deadline=None)
@given(st.lists(st.text(alphabet="ab .,\u00e9\u2581", max_size=12), min_size=1, max_size=8))
def test_one_sentence_row_per_line_empty_lines_included(lines):
    rows = per_sentence_scores(lines, [lines], ScoreSettings())
    assert [r["id"] for r in rows] == list(range(len(lines)))


# --- quality gates --------------------------------------------------------------------------------------


def test_fail_under_passes_above_and_fails_below_the_bar(pair):
    ref, hyp = pair
    bleu, _chrf, ter = (float(x) for x in nmt("-r", str(ref), str(hyp), "--score-only").stdout.split())
    ok = nmt("-r", str(ref), str(hyp), "--fail-under", f"bleu={bleu - 1},ter={ter + 1}")
    assert ok.exit_code == 0 and ok.stderr == ""
    low = nmt("-r", str(ref), str(hyp), "--fail-under", f"bleu={bleu + 1}")
    assert low.exit_code == 3
    assert low.stdout.startswith("BLEU = ")  # the scores are still printed for the log
    assert low.stderr.startswith("nmt: error: quality gate failed: BLEU") and low.stderr.count("\n") == 1
    high_ter = nmt("-r", str(ref), str(hyp), "--fail-under", f"ter={ter - 1}")
    assert high_ter.exit_code == 3 and "TER" in high_ter.stderr


def test_fail_under_in_json_reports_each_bar(pair):
    ref, hyp = pair
    result = nmt("-r", str(ref), str(hyp), "--json", "--fail-under", "bleu=100,chrf=1")
    assert result.exit_code == 3
    scores = json.loads(result.stdout)["scores"]
    assert scores["bleu"]["fail_under"] == {"bar": 100.0, "passed": False}
    assert scores["chrf"]["fail_under"] == {"bar": 1.0, "passed": True}


@pytest.mark.parametrize(
    "spec, expected",
    [("bleu=25,chrf=50", {"bleu": 25.0, "chrf": 50.0}), (" TER = 60 ", {"ter": 60.0}), ("", {})],
)
def test_parse_fail_under(spec, expected):
    assert parse_fail_under(spec, ("bleu", "chrf", "ter")) == expected


@pytest.mark.parametrize("spec", ["bleu", "bleu=", "bleu=abc", "bleu=nan", "meteor=3", "chrf++=3"])
def test_parse_fail_under_refuses(spec):
    with pytest.raises(UsageError):
        parse_fail_under(spec, ("bleu", "chrf", "ter"))


def test_gate_treats_ter_bar_as_a_maximum(pair):
    ref, hyp = pair
    lines = ref.read_text().splitlines()
    scores = score_corpus(hyp.read_text().splitlines(), [lines], ScoreSettings())
    ter = next(s for s in scores if s.key == "ter").score
    assert gate_failures(scores, {"ter": ter + 0.01}) == []
    assert gate_failures(scores, {"ter": ter}) == []  # equal to the bar passes
    assert len(gate_failures(scores, {"ter": ter - 0.01})) == 1


def test_parse_metrics():
    assert parse_metrics("BLEU, chrf++,bleu") == ("bleu", "chrf++")
    with pytest.raises(UsageError):
        parse_metrics("bleu,meteor")


# --- guards: one-line errors with documented exit codes -------------------------------------------------


def assert_one_line_error(result, code: int) -> str:
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert result.stderr.startswith("nmt: error: ") and result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr
    return result.stderr


def test_line_count_mismatch_names_both_counts_and_files(tmp_path):
    ref = write(tmp_path / "ref.txt", ["a b c", "d e f", "g h i"])
    hyp = write(tmp_path / "hyp.txt", ["a b c", "d e f"])
    err = assert_one_line_error(nmt("-r", str(ref), str(hyp)), 1)
    assert "hyp.txt has 2 lines" in err and "ref.txt has 3 lines" in err


def test_reference_count_mismatch_is_refused(tmp_path):
    ref = write(tmp_path / "ref.txt", ["a", "b"])
    ref2 = write(tmp_path / "ref2.txt", ["a"])
    err = assert_one_line_error(nmt("-r", str(ref), "-r", str(ref2), str(ref)), 1)
    assert "ref2.txt has 1 line" in err


def test_missing_file_is_one_line(tmp_path, pair):
    ref, hyp = pair
    assert "nope.txt" in assert_one_line_error(nmt("-r", str(tmp_path / "nope.txt"), str(hyp)), 1)
    assert "nope.txt" in assert_one_line_error(nmt("-r", str(ref), str(tmp_path / "nope.txt")), 1)


def test_no_segments_is_an_error(tmp_path):
    empty = write(tmp_path / "empty.txt", [])
    assert "no lines" in assert_one_line_error(nmt("-r", str(empty), str(empty)), 1)


@pytest.mark.parametrize(
    "args",
    [
        ["--metrics", "bleu,meteor"],
        ["--fail-under", "bleu"],
        ["--metrics", "bleu", "--fail-under", "ter=5"],
        ["--tokenize", "nonsense"],
        ["--width", "-1"],
        ["--src", "x.txt"],
        ["--model", "run"],
        ["--save-hyps", "out.txt"],
    ],
)
def test_usage_errors_exit_2(pair, args):
    ref, hyp = pair
    assert_one_line_error(nmt("-r", str(ref), str(hyp), *args), 2)


def test_usage_errors_without_hyp_argument(pair):
    ref, hyp = pair
    assert_one_line_error(nmt("-r", str(ref), "-s", str(hyp)), 2)  # one system is no comparison
    assert_one_line_error(nmt("-r", str(ref), "-s", str(hyp), "-s", str(hyp), str(hyp)), 2)
    assert_one_line_error(nmt("-r", "-", "-"), 2)  # stdin twice
    assert_one_line_error(nmt(str(hyp)), 2)  # no reference
    args = ["-r", str(ref), "-s", str(hyp), "-s", str(hyp), "--bootstrap-samples", "0"]
    assert_one_line_error(nmt(*args), 2)


# --- warnings -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "lines, tokenized",
    [
        (["Hello , world .", "I do n't know ."], 2),
        (["John 's car", "a &apos; b"], 2),
        (["Hello, world.", "I don't know."], 0),
        (["Bonjour ! Ça va ?", "Il dit : oui ; non"], 0),  # French spacing is not tokenization
        (["3.5 , 4"], 1),
    ],
)
def test_tokenized_count(lines, tokenized):
    assert tokenized_count(lines) == tokenized


def test_warns_on_tokenized_and_sentencepiece_hypotheses(tmp_path):
    ref = write(tmp_path / "ref.txt", ["Hello, world.", "I don't know."])
    tok = write(tmp_path / "tok.txt", ["Hello , world .", "I do n't know ."])
    spm = write(tmp_path / "spm.txt", ["\u2581Hello, \u2581world.", "I don't know."])
    tok_result = nmt("-r", str(ref), str(tok))
    assert tok_result.exit_code == 0 and "look tokenized" in tok_result.stderr
    assert "nmt: warning: " in tok_result.stderr
    assert "SentencePiece" in nmt("-r", str(ref), str(spm)).stderr
    assert nmt("-r", str(ref), str(ref)).stderr == ""


# --- comparing systems ----------------------------------------------------------------------------------


def sacrebleu_paired(ref: Path, systems: list[Path], n: int) -> tuple[list[str], list[str], dict[str, str]]:
    """(score/mean/ci cells, p-values, signatures) parsed from sacrebleu's --paired-bs text table."""
    out = sacrebleu(
        str(ref), "-i", *map(str, systems), "-m", "bleu", "chrf", "ter",
        "--paired-bs", "--paired-bs-n", str(n), "-f", "text",
    )  # fmt: skip
    cells = re.findall(r"(\d+\.\d) \((\d+\.\d) ± (\d+\.\d)\)", out)
    p_values = re.findall(r"\(p = (\d\.\d{4})\)", out)
    sigs = dict(re.findall(r"^ - (\S+)\s+(\S+)$", out, flags=re.M))
    return ["\t".join(c) for c in cells], p_values, sigs


def test_compare_systems_equals_sacrebleu_paired_bootstrap(tmp_path, pair):
    ref, hyp = pair
    lines = ref.read_text().splitlines()
    hyp2 = write(tmp_path / "hyp2.txt", [line.lower() for line in lines])
    hyp3 = write(tmp_path / "hyp3.txt", perturb(lines, seed=5))
    result = nmt(
        "-r", str(ref), "-s", str(hyp), "-s", str(hyp2), "-s", str(hyp3), "--bootstrap-samples", "40"
    )
    assert result.exit_code == 0, result.stderr
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    assert rows[0] == ["system", "metric", "score", "mean", "ci", "p_value"]
    assert [r[1] for r in rows[1:4]] == ["BLEU", "chrF2", "TER"] and len(rows) == 10
    cells, p_values, _ = sacrebleu_paired(ref, [hyp, hyp2, hyp3], 40)
    assert ["\t".join(r[2:5]) for r in rows[1:]] == cells
    assert [r[5] for r in rows[1:]] == ["-"] * 3 + p_values
    assert "Paired bootstrap" in result.stderr and "Baseline" in result.stderr


def test_compare_systems_json(tmp_path, pair):
    ref, hyp = pair
    hyp2 = write(tmp_path / "hyp2.txt", [line.lower() for line in ref.read_text().splitlines()])
    result = nmt("-r", str(ref), "-s", str(hyp), "-s", str(hyp2), "--bootstrap-samples", "30", "--json", "-q")
    assert result.exit_code == 0 and result.stderr == ""  # -q: no table
    data = json.loads(result.stdout)
    _, p_values, sigs = sacrebleu_paired(ref, [hyp, hyp2], 30)
    assert [s["baseline"] for s in data["systems"]] == [True, False]
    assert data["systems"][0]["scores"]["bleu"]["p_value"] is None
    assert [f"{data['systems'][1]['scores'][k]['p_value']:.4f}" for k in ("bleu", "chrf", "ter")] == p_values
    assert data["signatures"] == {"bleu": sigs["BLEU"], "chrf": sigs["chrF2"], "ter": sigs["TER"]}
    assert "bs:30" in data["signatures"]["bleu"] and data["n_samples"] == 30


# --- translate-and-score (with a stand-in for nmt_cli.translate) ----------------------------------------


@dataclass
class FakeTranslateOptions:
    beam: int = 1
    alpha: float = 0.6
    batch_size: int = 32
    max_len_ratio: float = 2.0
    threads: int = 0


class FakeTranslate:
    """Stands in for nmt_cli.translate: 'translates' by swapping the first two words."""

    DecodeSettings = FakeTranslateOptions

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[str], FakeTranslateOptions]] = []

    def translate_lines(self, model: str, lines: list[str], opts: FakeTranslateOptions) -> list[str]:
        self.calls.append((model, list(lines), opts))
        return [" ".join(line.split()[1:2] + line.split()[:1] + line.split()[2:]) for line in lines]


def test_translate_then_score_saves_hypotheses(tmp_path, pair, monkeypatch):
    ref, _ = pair
    fake = FakeTranslate()
    monkeypatch.setitem(sys.modules, "nmt_cli.translate", fake)
    saved = tmp_path / "hyps.txt"
    result = nmt("-r", str(ref), "-m", "run", "--src", str(ref), "--save-hyps", str(saved), "--beam", "4")
    assert result.exit_code == 0, result.stderr
    ((model, lines, opts),) = fake.calls
    assert (model, lines, opts.beam, opts.alpha) == (
        ["run"],
        ref.read_text().split("\n")[:-1],
        4,
        None,
    )  # no --alpha: the run's tuned one, else 0.6
    assert saved.read_text().count("\n") == 60
    assert result.stdout == nmt("-r", str(ref), str(saved)).stdout


def test_translate_refuses_misaligned_source_before_translating(tmp_path, pair, monkeypatch):
    ref, _ = pair
    fake = FakeTranslate()
    monkeypatch.setitem(sys.modules, "nmt_cli.translate", fake)
    src = write(tmp_path / "src.txt", ["uno", "dos"])
    err = assert_one_line_error(nmt("-r", str(ref), "-m", "run", "--src", str(src)), 1)
    assert "src.txt has 2 lines" in err and fake.calls == []


# --- process-level behaviour ----------------------------------------------------------------------------


def test_real_process_separates_data_and_errors(tmp_path, pair):
    ref, hyp = pair
    cmd = [sys.executable, "-m", "nmt_cli", "evaluate", "-r", str(ref)]
    ok = subprocess.run([*cmd, str(hyp), "--metrics", "bleu"], capture_output=True, text=True)
    assert ok.returncode == 0 and re.fullmatch(r"BLEU = \d+\.\d \S+\n", ok.stdout)
    short = write(tmp_path / "short.txt", ["x"])
    bad = subprocess.run([*cmd, str(short)], capture_output=True, text=True)
    assert bad.returncode == 1 and bad.stdout == ""
    assert bad.stderr == f"nmt: error: line counts differ: {short} has 1 line, {ref} has 60 lines\n"


def test_importing_the_cli_does_not_import_sacrebleu():
    code = "import sys, nmt_cli.cli; sys.exit('sacrebleu' in sys.modules or 'torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
