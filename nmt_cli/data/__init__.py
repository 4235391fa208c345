"""Parallel data: from the user's files or datasets to the encoded splits that training reads.

``nmt prepare`` (:mod:`.prepare`) reads pairs in chunks (:mod:`.readers` for line-aligned files and
TSV/CSV, :mod:`.hf` for Hugging Face datasets, :mod:`.sources` to pick the reader the settings name),
applies the cleaning rules (:mod:`.rules`), counts what they did (:mod:`.report`), keeps its work as text
on disk (:mod:`.text`), writes the encoded splits (:mod:`.encoded`) and the records (:mod:`.records`),
all inside a staging directory that is renamed into place at the end (:mod:`.staging`). Training reads
the result through :class:`.encoded.DataDir`. :mod:`.demo` generates the synthetic demo corpus.

This file imports nothing, so importing one module of the package never drags in the others.
"""
