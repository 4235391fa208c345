"""``train --init-from RUN``: a new run that starts from another run's weights (fine-tuning).

Weights only: the optimizer, the learning-rate schedule, the step and epoch counters, the best score
and patience start fresh. The architecture comes from the checkpoint (model options given on the
command line must agree with it, but for ``--dropout``), and the data must have been prepared with
the checkpoint's tokenizer (``prepare --tokenizer RUN``): the same pieces, the same ids. The output
layer scores the pieces the checkpoint scored and those the new training data has (``--output-vocab
seen``): rows for pieces new to it start from the fresh initialisation.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import torch

from nmt_cli import display, record
from nmt_cli.errors import UsageError
from nmt_cli.model import Seq2Seq
from nmt_cli.record import ModelRecord
from nmt_cli.settings import OPTION_FIELDS, ModelSettings, build, to_dict
from nmt_cli.tokenizer import Tokenizer

# Model settings a fine-tuning run may choose for itself (they change no weight's shape).
FREE = ("dropout",)
OUT_IDS, POSITIONS = "generator.out_ids", "generator.positions"


def load(path: str, tok: Tokenizer) -> ModelRecord:
    """The checkpoint to start from (a run's best, or a file), refused when its tokenizer is not DATA's."""
    init = record.load_model_record(Path(path), warn=display.warn)
    if (init.spm_src, init.spm_tgt) != (tok.src_proto, tok.tgt_proto):
        raise UsageError(
            f"--init-from {path}: its tokenizer is not the data's, so piece ids would mean other pieces; "
            f"prepare the data with --tokenizer {path}"
        )
    return init


def model_settings(
    base: ModelSettings, given: ModelSettings, explicit: Collection[str], sizes: dict[str, int]
) -> ModelSettings:
    """The fine-tuning run's model: ``base`` (the checkpoint's), with the free settings of ``given``
    that were on the command line; other model options on the command line must agree with ``base``."""
    was, now = to_dict(base), to_dict(given)
    names = {OPTION_FIELDS.get(name, name) for name in explicit}
    differ = sorted(k for k in names if k in was and k not in FREE and k not in sizes and was[k] != now[k])
    if differ:
        shown = ", ".join(f"--{k.replace('_', '-')} ({was[k]})" for k in differ)
        raise UsageError(
            f"--init-from: the model it starts from has other settings: {shown}; leave these options "
            "out (the architecture comes from the checkpoint)"
        )
    free = {k: now[k] for k in FREE if k in names}
    return build(ModelSettings, {**was, **free, **sizes})


def output_vocabulary(init: ModelRecord, seen: Sequence[int]) -> list[int]:
    """The pieces the checkpoint's output layer scored, and those ``seen`` in the new data."""
    return sorted({int(i) for i in init.weights[OUT_IDS].tolist()} | set(seen))


def load_weights(model: Seq2Seq, init: ModelRecord, origin: str) -> None:
    """Copy ``init``'s weights into ``model`` (freshly initialised, its output vocabulary set): output
    rows by piece id, every other tensor as it is."""
    state = model.state_dict()
    old_ids = init.weights[OUT_IDS].tolist()
    new_ids = state[OUT_IDS].tolist()
    old_row = {piece: row for row, piece in enumerate(old_ids)}
    kept = torch.tensor([p for p in new_ids if p in old_row])  # pieces both know
    new_rows = torch.tensor([row for row, p in enumerate(new_ids) if p in old_row])
    old_rows = torch.tensor([old_row[int(p)] for p in kept])
    loaded: dict[str, Any] = {}
    for key, tensor in state.items():
        if key in (OUT_IDS, POSITIONS):
            loaded[key] = tensor
        elif key.startswith("generator.") and init.weights[key].size(0) == len(old_ids) != len(new_ids):
            rows = tensor.clone()
            rows[new_rows] = init.weights[key][old_rows].to(tensor.dtype)
            loaded[key] = rows
        else:
            loaded[key] = init.weights[key]
    model.load_state_dict(loaded)
    fresh = len(new_ids) - len(kept)
    display.info(
        f"starting from the weights of {origin}" + (f" ({fresh} output pieces new to it)" if fresh else "")
    )
