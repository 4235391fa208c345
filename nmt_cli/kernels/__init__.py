"""Fast kernels behind the textbook model: each computes what a plain torch expression computes.

- ``additive``: Bahdanau scores v · tanh(q + k) in cache-sized blocks, with a hand-written backward
  (plain path: ``attention.BahdanauAttention`` with ``fast=False``).
- ``gru``: the GRU recurrence as one autograd node, both encoder directions together (plain path:
  ``nn.GRU``, packed for variable lengths).
- ``bf16``: products on rows padded to a few shapes under bf16 autocast (plain path: ``F.linear``,
  ``torch.bmm``); CPU bf16 detection.
- ``int8``: dynamic int8 quantization of a trained model, module by module (plain path: the float
  model; reference: ``torch.ao.quantization.quantize_dynamic``).

tests/test_kernels.py and tests/test_int8.py hold each kernel to its plain path.
"""
