"""nmt: train, run and inspect attention RNN translators from the command line."""

__version__ = "0.1.0"
