"""Errors the CLI turns into one line and an exit code.

Exit codes: 0 success, 1 runtime failure, 2 bad usage or config, 3 a model that does not fit.
"""

from __future__ import annotations

import reprlib

EXIT_OK = 0
EXIT_RUNTIME = 1
EXIT_USAGE = 2
EXIT_DOES_NOT_FIT = 3


class TinymlError(Exception):
    """Base class: a user-facing failure with a one-line message and an exit code."""

    exit_code = EXIT_RUNTIME


class ConfigError(TinymlError):
    """A config file, override or option is malformed or names something unknown."""

    exit_code = EXIT_USAGE


class InputFileError(TinymlError):
    """An input file (dataset, model, .tflite, profile) is missing, unreadable or corrupt."""

    exit_code = EXIT_USAGE


class ArchError(TinymlError):
    """An architecture cannot be built (for example its shapes collapse to zero)."""

    exit_code = EXIT_USAGE


class DoesNotFitError(TinymlError):
    """A model exceeds its MCU budget where fitting was required."""

    exit_code = EXIT_DOES_NOT_FIT


class RunDirError(TinymlError):
    """A run directory cannot be created or resumed as asked."""

    exit_code = EXIT_USAGE


class SaveError(TinymlError):
    """A file of a run cannot be saved (a full, read-only or unwritable disk)."""


class EngineError(TinymlError):
    """The C engine cannot generate a model (an op, activation or parameter it does not run)."""

    exit_code = EXIT_USAGE


# How much of a user's value an error message echoes: enough to recognise it, never a whole
# 100,000-character string or an alias-expanded document.
SHOWN_CHARS = 60
_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother, _REPR.maxlong = 3, SHOWN_CHARS, SHOWN_CHARS, SHOWN_CHARS
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = 6


def shown(value: object) -> str:
    """``repr(value)`` for an error message, cut to about SHOWN_CHARS characters (reprlib never walks
    more than a few items of a nested value, so a shared-alias bomb is not expanded).

    >>> shown("x" * 1000)
    "'xxxxxxxxxxxxxxxxxxxxxxxxxxx...xxxxxxxxxxxxxxxxxxxxxxxxxxxx'"
    >>> shown([[1, 2], {"a": 3}])
    "[[1, 2], {'a': 3}]"
    """
    text = _REPR.repr(value)
    return text if len(text) <= SHOWN_CHARS + 10 else text[:SHOWN_CHARS] + "..."


def clip(text: str) -> str:
    """A name from the user's input (a key, a path) cut to SHOWN_CHARS characters for a message."""
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS] + "..."
