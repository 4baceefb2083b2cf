"""The version of distill, apart from the package top so that low layers can read it."""

__version__ = "0.1.0"
