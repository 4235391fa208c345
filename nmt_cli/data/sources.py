"""From ``SourceSettings`` to chunks: which reader reads the training split, and the given dev/test.

The training pairs come from exactly one of ``--train SRC TGT``, ``--tsv FILE`` or ``--hf DATASET``.
Dev and test are either given (files, or splits of the dataset) and then kept as given, or carved out of
the cleaned training pairs (``--dev-size``/``--test-size``), never both. :func:`check_spec` finds the
usage errors before anything is read.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from nmt_cli.data.hf import hf_keys, split_chunks
from nmt_cli.data.readers import Chunk, read_file_pair, read_table
from nmt_cli.data.report import SplitReport
from nmt_cli.errors import UsageError
from nmt_cli.settings import PrepareSettings, SourceSettings


def check_spec(spec: SourceSettings, opts: PrepareSettings) -> None:
    """Usage errors, found before anything is read or created."""
    given = [x for x in (spec.train, spec.tsv, spec.hf) if x]
    if len(given) != 1:
        raise UsageError("give exactly one of --train SRC TGT, --tsv FILE or --hf DATASET")
    if spec.hf:
        hf_keys(spec)
    for name, size in (("dev", opts.dev_size), ("test", opts.test_size)):
        files, split = getattr(spec, name), getattr(spec, f"hf_{name}_split")
        if files and split:
            raise UsageError(f"give either --{name} files or --hf-{name}-split, not both")
        if split and not spec.hf:
            raise UsageError(f"--hf-{name}-split needs --hf")
        if size < 0:
            raise UsageError(f"--{name}-size must be 0 or more")
        if size and (files or split):
            raise UsageError(f"give either a {name} split (--{name} or --hf-{name}-split) or --{name}-size")


def train_chunks(spec: SourceSettings, report: SplitReport) -> Iterator[Chunk]:
    """The training pairs from whichever input the spec names (see ``check_spec``)."""
    if spec.train:
        return read_file_pair(spec.train[0], spec.train[1], report)
    if spec.tsv:
        return read_table(spec.tsv, spec.columns, report)
    return split_chunks(spec, spec.hf_split, report)


def held_out_chunks(spec: SourceSettings, name: str, report: SplitReport) -> Iterator[Chunk] | None:
    """A dev/test split given as files or as a dataset split; None when it is not given."""
    files = spec.dev if name == "dev" else spec.test
    split = spec.hf_dev_split if name == "dev" else spec.hf_test_split
    if files:
        return read_file_pair(files[0], files[1], report)
    if split:
        return one_line(split_chunks(spec, split, report), report)
    return None


def one_line(chunks: Iterable[Chunk], report: SplitReport) -> Iterator[Chunk]:
    """Replace line breaks inside fields by spaces (for splits that are kept as given), counting them."""
    for chunk in chunks:
        for i, (s, t) in enumerate(zip(chunk.src, chunk.tgt)):
            if "\n" in s or "\r" in s or "\n" in t or "\r" in t:
                report.repair("line_breaks", chunk.lines[i])
                chunk.src[i] = re.sub(r"\r\n?|\n", " ", s)
                chunk.tgt[i] = re.sub(r"\r\n?|\n", " ", t)
        yield chunk
