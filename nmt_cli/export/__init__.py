"""``nmt export``: a trained model as one file that translates without nmt.

``artifact.py`` writes the file (a Python zip application), ``graphs.py`` turns the model into the two
``torch.export`` programs it holds, and ``runner.py`` is its ``__main__.py``: it imports only torch,
sentencepiece and the standard library.
"""
