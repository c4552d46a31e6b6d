"""Exceptions raised by the expression engine.

Every failure inside an expression surfaces as an :class:`ExpressionError` so callers never have to guess
which Python exception an untrusted expression might provoke.
"""

from __future__ import annotations


class ExpressionError(Exception):
    """An expression could not be compiled or evaluated."""

    code = "INVALID_EXPRESSION"

    def __init__(self, message: str, expression: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.expression = expression

    def __str__(self) -> str:
        return self.message


class ExpressionSyntaxError(ExpressionError):
    """The template text is not valid; ``column`` is 1-based within the whole parameter string."""

    def __init__(self, message: str, expression: str = "", column: int = 1) -> None:
        super().__init__(message, expression)
        self.column = column

    def __str__(self) -> str:
        return f"{self.message} (column {self.column})"


class ExpressionLimitError(ExpressionError):
    """A resource bound (steps, time, size, depth) was exceeded."""

    code = "EXPRESSION_LIMIT"


class NullishAccessError(ExpressionError):
    """JS TypeError for reading a property of null/undefined.

    A distinct class because n8n-style (``=``-prefixed) templates turn it into ``undefined`` per block,
    as n8n's template error handler does (conformance row 2).
    """
