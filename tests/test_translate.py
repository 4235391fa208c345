"""The line contract of `nmt translate`: N lines in, N lines out, whatever the input."""

from __future__ import annotations

import json
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import run_nmt

from nmt_cli.settings import DecodeSettings
from nmt_cli.translate import translate_stream


def expected_lines(data: bytes) -> int:
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


HOSTILE: dict[str, bytes] = {
    "empty file": b"",
    "only newlines": b"\n\n\n\n",
    "no final newline": b"the cat sees\nthe dog",
    "crlf": b"the cat sees\r\nthe dog runs\r\n",
    "lone cr inside": b"the cat\rsees\nthe dog\n",
    "u2028 inside": "the cat\u2028sees\nthe dog\n".encode(),
    "u0085 inside": "the cat\u0085sees\n".encode(),
    "form feed": b"the cat\x0csees\n\x0c\n",
    "nul byte": b"the \x00 cat\n\x00\n",
    "bom": "\ufeffthe cat sees\n".encode(),
    "invalid utf8": b"the \xff\xfe cat\n\xc3\x28\n",
    "truncated utf8": b"the cat \xe2\x82\n",
    "overlong utf8": b"\xc0\xaf\n",
    "whitespace only": b"   \n\t\t\n",
    "nbsp and ideographic space": "\u00a0\u00a0\n\u3000\n".encode(),
    "zero width space": "\u200b\n\u200b\u200b\n".encode(),
    "1MB line without spaces": b"a" * 1_000_000 + b"\n",
    "period space x5000": b". " * 5000 + b"\n",
    "emoji sequences": "the \U0001f468\u200d\U0001f469\u200d\U0001f467 cat \U0001f1ea\U0001f1f8\n".encode(),
    "unseen scripts": "猫が見る\nкошка видит\nالقط يرى\n".encode(),
    "literal specials": b"<unk> </s> <s> <pad>\n</s>\n",
    "ansi escapes": b"\x1b[31mthe cat\x1b[0m sees\n",
    "rich markup": b"[bold red]the cat[/] sees [link=x]\n",
    "tabs": b"the\tcat\tsees\n",
    "very long word list": b" ".join([b"cat"] * 3000) + b"\n",
    "mixed blank and text": b"\n the cat \n\n\n the dog \n\n",
    "combining marks": "e\u0301\u0301\u0301\u0301 cat\n".encode(),
    "surrogate escapes": b"\xed\xa0\x80 cat\n",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_input_keeps_the_line_count(name: str, run_dir: Path, tmp_path: Path) -> None:
    data = HOSTILE[name]
    src, out = tmp_path / "in.txt", tmp_path / "out.txt"
    src.write_bytes(data)
    start = time.monotonic()
    written = translate_stream([str(run_dir)], str(src), str(out), DecodeSettings(max_len=60, threads=1))
    assert time.monotonic() - start < 60
    text = out.read_bytes()
    assert written == expected_lines(data)
    assert expected_lines(text) == expected_lines(data)
    assert text.endswith(b"\n") or not text
    inputs = data.split(b"\n")
    for raw, hyp in zip(inputs, text.split(b"\n")):
        if not raw.decode("utf-8", "replace").translate({0x200B: None}).strip():
            assert hyp == b"", "blank lines give empty lines"


def test_pipe_example_from_the_issue(run_dir: Path) -> None:
    proc = run_nmt("translate", "-m", str(run_dir), stdin="a b c\n\n  \nd\n")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.decode().split("\n")
    assert len(lines) == 5 and lines[-1] == ""
    assert lines[1] == "" and lines[2] == ""
    assert b"Traceback" not in proc.stderr


def test_head_closes_the_pipe_quietly(run_dir: Path, tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    big.write_text("the cat sees the dog\n" * 100_000)
    nmt = f'"{sys.executable}" -m nmt_cli translate -m "{run_dir}" "{big}"'
    cmd = f'{nmt} | head -n 1; echo "${{PIPESTATUS[0]}}" >&2'
    proc = subprocess.run(["bash", "-c", cmd], capture_output=True, timeout=120)
    assert proc.stdout.count(b"\n") == 1
    assert b"Traceback" not in proc.stderr and b"Error" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == b"0"


def test_interactive_coprocess_gets_each_answer_before_eof(run_dir: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "nmt_cli", "translate", "-m", str(run_dir)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        for line in (b"the cat sees the dog\n", b"\n", b"the girl\n"):
            proc.stdin.write(line)
            proc.stdin.flush()
            ready, _, _ = select.select([proc.stdout], [], [], 60)
            assert ready, "no answer before EOF"
            answer = proc.stdout.readline()
            assert answer.endswith(b"\n")
            if line == b"\n":
                assert answer == b"\n"
    finally:
        proc.stdin.close()
        assert proc.wait(timeout=60) == 0
    assert proc.stdout.read() == b""


def test_strict_utf8_stops_with_line_and_byte(run_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"the cat\nthe \xff dog\n")
    proc = run_nmt("translate", "-m", str(run_dir), "--strict-utf8", str(bad))
    assert proc.returncode == 1
    err = proc.stderr.decode()
    assert f"{bad}:2: invalid UTF-8 at byte 4" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    lenient = run_nmt("translate", "-m", str(run_dir), str(bad))
    assert lenient.returncode == 0 and lenient.stdout.count(b"\n") == 2
    assert b":2: invalid UTF-8" in lenient.stderr


def test_formats_json_align_nbest_and_attention(run_dir: Path) -> None:
    text = "the cat sees the dog\n\nthe girl\n"
    js = run_nmt("translate", "-m", str(run_dir), "--json", "--attention-matrix", "--beam", "3", stdin=text)
    rows = [json.loads(line) for line in js.stdout.decode().splitlines()]
    assert [r["id"] for r in rows] == [0, 1, 2]
    assert rows[1]["hyp"] == "" and rows[1]["src"] == ""
    first = rows[0]
    assert len(first["attention"]) == len(first["tgt_pieces"]) + 1
    assert all(abs(sum(row) - 1) < 1e-3 for row in first["attention"])
    al = run_nmt("translate", "-m", str(run_dir), "--align", "--align-level", "piece", stdin=text)
    lines = al.stdout.decode().split("\n")[:-1]
    assert len(lines) == 3 and all(" ||| " in ln for ln in lines)
    for pair in lines[0].split(" ||| ")[1].split():
        s, t = map(int, pair.split("-"))
        assert 0 <= s < len(first["src_pieces"]) + 1 and t >= 0
    nb = run_nmt("translate", "-m", str(run_dir), "--beam", "4", "--nbest", "2", stdin="the cat\n")
    out = nb.stdout.decode().splitlines()
    assert len(out) == 2 and all(ln.startswith("0 ||| ") for ln in out)


def test_show_attention_draws_on_stderr_only(run_dir: Path) -> None:
    plain = run_nmt("translate", "-m", str(run_dir), stdin="the cat sees the dog\n")
    drawn = run_nmt("translate", "-m", str(run_dir), "--show-attention", stdin="the cat sees the dog\n")
    assert drawn.stdout == plain.stdout
    assert b"weight" in drawn.stderr and b"line 1" in drawn.stderr


def test_output_file_is_written_whole(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "hyp.txt"
    proc = run_nmt("translate", "-m", str(run_dir), "-o", str(out), stdin="the cat\nthe dog\n")
    assert proc.returncode == 0 and proc.stdout == b""
    assert out.read_text().count("\n") == 2
    assert not any(p.name.endswith(".partial") for p in tmp_path.iterdir())


def test_missing_model_is_a_one_line_error(tmp_path: Path) -> None:
    proc = run_nmt("translate", "-m", str(tmp_path / "nope"), stdin="x\n")
    assert proc.returncode == 1
    assert proc.stderr.decode().count("\n") == 1 and b"Traceback" not in proc.stderr


@pytest.mark.parametrize("precision", ["int8", "bf16"])
def test_reduced_precision_keeps_the_contract(run_dir: Path, precision: str) -> None:
    text = "the cat sees the dog\n\nthe girl\n"
    proc = run_nmt("translate", "-m", str(run_dir), "--quantize", precision, "--beam", "2", stdin=text)
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout.count(b"\n") == 3 and proc.stdout.split(b"\n")[1] == b""


def test_a_failing_run_leaves_no_output_file(run_dir: Path, tmp_path: Path) -> None:
    bad, out = tmp_path / "bad.txt", tmp_path / "hyp.txt"
    bad.write_bytes(b"the cat\n" * 300 + b"\xff\n")
    proc = run_nmt("translate", "-m", str(run_dir), "--strict-utf8", str(bad), "-o", str(out))
    assert proc.returncode == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.txt"]


@pytest.mark.slow
def test_memory_stays_flat_over_a_long_stream(run_dir: Path, tmp_path: Path) -> None:
    def peak_rss_kib(lines: int) -> int:
        src = tmp_path / f"in{lines}.txt"
        src.write_text("the cat sees the dog .\n" * lines)
        rss = tmp_path / f"rss{lines}"
        cmd = ["/usr/bin/time", "-f", "%M", "-o", str(rss), sys.executable, "-m", "nmt_cli", "translate",
               "-m", str(run_dir), "--batch-size", "64", "--max-len", "20"]  # fmt: skip
        with open(src, "rb") as fh:
            proc = subprocess.run(
                cmd, stdin=fh, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=1800
            )
        assert proc.returncode == 0 and proc.stdout.count(b"\n") == lines
        return int(rss.read_text().split()[-1])

    small, large = peak_rss_kib(10_000), peak_rss_kib(100_000)
    assert large <= 1.2 * small, (small, large)


@pytest.mark.parametrize("mode", ["crop", "split"])
def test_long_lines_are_cropped_or_split_with_a_warning(mode: str, run_dir: Path) -> None:
    text = "the cat sees the dog and the girl sees the cat\n\nthe dog\n"
    proc = run_nmt("translate", "-m", str(run_dir), "--max-src-len", "4", "--long-input", mode, stdin=text)
    assert proc.returncode == 0
    assert proc.stdout.count(b"\n") == 3
    err = proc.stderr.decode()
    assert "line 1:" in err and mode in err and "line 3" not in err
