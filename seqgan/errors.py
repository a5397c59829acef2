"""The project's error for user files that cannot be read as what they should be.

Every reader of a user's file (config YAML, token files, vocabularies, `.sgw` weights, the oracle
pickle) either returns its content or raises BadFileError, whose message names the file, what
was wrong and what was expected. It is a ValueError, so the CLI reports it as bad input (exit 2).
"""
from __future__ import annotations


class BadFileError(ValueError):
    """A user file that is missing, not a regular file, unreadable or damaged."""
