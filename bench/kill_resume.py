#!/usr/bin/env python3
"""Exact resume under kill -9: a run killed at any moment and rerun ends with the very same weights.

Prepares a small demo corpus (``nmt demo-corpus`` + ``nmt prepare``), trains a tiny model (the sizes of
tests/conftest.py's TINY settings) straight to --steps updates once, then --kills times: starts the
same training in a fresh run directory, SIGKILLs it at a random moment (a seeded delay after its
first metrics line, spread over the straight run's training time: inside and outside checkpoint writes,
between validations) or, for every fifth kill, at an exact place with ``NMT_FAULT`` (mid-save, after the
step file before the manifest, after a save), then reruns the same command until it completes (half of
the timed trials kill the first rerun too, at a random moment). Every run's ``last.pt`` weights must
equal the straight run's (``torch.equal`` on every tensor of the state dict); its metrics lines are
compared too (timing fields aside).

Prints one JSON line: kills, identical (weights), metrics_identical, where the kills landed, reruns, the
CPU model and the times. Exit status 1 when any run differs. Run nothing else meanwhile (the delays are
fractions of the straight run's wall time).

usage: bench/kill_resume.py [--kills 20] [--steps 60] [--seed 1] [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# tests/conftest.py's TINY_MODEL and TINY_TRAIN, as options; checkpoints between validations too.
TINY = [
    "--emb", "32", "--enc-hidden", "32", "--dec-hidden", "48", "--attn-dim", "24", "--dropout", "0.1",
    "--batch-tokens", "600", "--threads", "1", "--seed", "3", "--log-every", "1",
    "--valid-every", "20", "--save-every", "10", "--keep-last", "2", "--kernels", "fast", "-q",
]  # fmt: skip
FAULTS = ("kill-mid-save", "kill-before-manifest", "kill-after-save")
TIMING = ("elapsed", "tgt_tokens_per_s")


def nmt(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "nmt_cli", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "NO_COLOR": "1", **(env or {})},
        cwd=ROOT,
    )


def started(proc: subprocess.Popen[bytes], run: Path) -> float:
    """Wait until the training wrote its first metrics line (or ended); returns the seconds waited."""
    start = time.monotonic()
    while proc.poll() is None and not (run / "metrics.jsonl").exists():
        time.sleep(0.01)
    return time.monotonic() - start


def kill_later(proc: subprocess.Popen[bytes], run: Path, delay: float) -> int:
    """SIGKILL ``proc`` ``delay`` seconds after its training started; its exit status."""
    started(proc, run)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)  # (nothing, when it has finished)
    return finish(proc)


def finish(proc: subprocess.Popen[bytes]) -> int:
    _, err = proc.communicate()
    if proc.returncode not in (0, -signal.SIGKILL):
        sys.stderr.write(err.decode(errors="replace"))
    return proc.returncode


def prepare(work: Path) -> Path:
    corpus, data = work / "corpus", work / "data"
    if not (data / "manifest.json").exists():
        sizes = ["--seed", "5", "--train-size", "1200", "--dev-size", "40", "--test-size", "40"]
        assert finish(nmt("demo-corpus", "-o", str(corpus), *sizes)) == 0
        pairs = ["--train", str(corpus / "train.en"), str(corpus / "train.es")]
        pairs += ["--dev", str(corpus / "dev.en"), str(corpus / "dev.es")]
        assert finish(nmt("prepare", *pairs, "--vocab-size", "400", "-o", str(data), "-q")) == 0
    return data


def train_args(data: Path, run: Path, steps: int) -> list[str]:
    return ["train", str(data), "--out", str(run), "--max-steps", str(steps), *TINY]


def weights(run: Path) -> dict[str, Any]:
    from nmt_cli import checkpoint

    return checkpoint.load(run, "last")["model"]  # type: ignore[no-any-return]


def same_weights(a: dict[str, Any], b: dict[str, Any]) -> bool:
    import torch

    return a.keys() == b.keys() and all(a[k].dtype == b[k].dtype and torch.equal(a[k], b[k]) for k in a)


def metrics(run: Path) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines()]
    return [{k: v for k, v in r.items() if k not in TIMING} for r in rows]


def landed(run: Path) -> str:
    """Where a kill left the run: nothing yet, inside a write (a temporary file), or between writes."""
    if not run.exists() or not (run / "checkpoints.json").exists():
        return "before-first-checkpoint"
    if any(p.name.endswith((".tmp", ".link")) for p in run.iterdir()):
        return "inside-a-write"
    from nmt_cli import checkpoint

    listed = set(checkpoint.read_manifest(run)["files"])
    if any(checkpoint.STEP_FILE.fullmatch(p.name) and p.name not in listed for p in run.iterdir()):
        return "before-the-manifest"
    return "between-writes"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--work", type=Path, help="keep the corpus and runs here (default: a temporary dir)")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="kill_resume.") as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        data = prepare(work)
        straight = work / "straight"
        if straight.exists():
            subprocess.run(["rm", "-rf", str(straight)], check=True)
        start = time.monotonic()
        proc = nmt(*train_args(data, straight, args.steps))
        startup_s = started(proc, straight)
        assert finish(proc) == 0, "the straight run failed"
        straight_s = time.monotonic() - start
        training_s = straight_s - startup_s
        reference, reference_metrics = weights(straight), metrics(straight)
        identical = metrics_identical = reruns = second_kills = 0
        places: dict[str, int] = {}
        trial_s = []
        for i in range(args.kills):
            run = work / f"run-{i:02d}"
            if run.exists():
                subprocess.run(["rm", "-rf", str(run)], check=True)
            start = time.monotonic()
            if i % 5 == 4:  # an exact place, at a checkpoint of the run
                fault = f"{FAULTS[(i // 5) % len(FAULTS)]}@{rng.randrange(10, args.steps + 1, 10)}"
                code = finish(nmt(*train_args(data, run, args.steps), env={"NMT_FAULT": fault}))
                how = f"fault:{fault.split('@')[0]}"
            else:
                delay = rng.uniform(0.0, 0.98) * training_s
                code = kill_later(nmt(*train_args(data, run, args.steps)), run, delay)
                how = "timer"
            where = landed(run) if code == -signal.SIGKILL else "finished-before-the-kill"
            places[f"{how}:{where}"] = places.get(f"{how}:{where}", 0) + 1
            if how == "timer" and rng.random() < 0.5:  # kill the resumed run too
                reruns += 1
                delay = rng.uniform(0.0, 0.98) * training_s
                second_kills += kill_later(nmt(*train_args(data, run, args.steps)), run, delay) != 0
            for _ in range(5):
                reruns += 1
                if finish(nmt(*train_args(data, run, args.steps))) == 0:
                    break
            trial_s.append(round(time.monotonic() - start, 1))
            identical += same_weights(reference, weights(run))
            metrics_identical += metrics(run) == reference_metrics
    print(
        json.dumps(
            {
                "kills": args.kills,
                "identical": identical,
                "metrics_identical": metrics_identical,
                "steps": args.steps,
                "landed": dict(sorted(places.items())),
                "reruns": reruns,
                "reruns_killed": second_kills,
                "cpu": cpu_model(),
                "cores": os.cpu_count(),
                "straight_s": round(straight_s, 1),
                "straight_startup_s": round(startup_s, 1),
                "trial_s": trial_s,
                "total_s": round(straight_s + sum(trial_s), 1),
            },
            sort_keys=True,
        )
    )
    return 0 if identical == metrics_identical == args.kills else 1


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


if __name__ == "__main__":
    sys.exit(main())
