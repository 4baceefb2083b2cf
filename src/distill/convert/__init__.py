"""Notebook to pipeline: ``distill convert`` and ``distill verify``."""
