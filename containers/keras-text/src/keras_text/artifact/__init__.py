"""What ships inside every ``model.tar.gz``'s ``code/``: importable with numpy and the standard library alone.

AWS's TF Serving container imports ``code/inference.py`` by file, next to its own copy of ``text_pipeline.py``,
with nothing of this image installed: only the packages of ``code/requirements.txt`` (the tokenizer's, which
``text_pipeline`` imports when a text is first tokenized).
"""

from pathlib import Path

DIRECTORY = Path(__file__).resolve().parent
FILES = ("inference.py", "text_pipeline.py")  # copied into code/ by the export
