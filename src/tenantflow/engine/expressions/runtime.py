"""Per-evaluation state: resource accounting, calling functions, and ownership of mutable containers.

The interpreter has no loops of its own; all repeated work happens in callbacks and built-ins, so budgets are
charged there (per callback invocation and per element processed) instead of on every AST node.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from .errors import ExpressionError, ExpressionLimitError
from .values import MAX_STRING_LENGTH, UNDEFINED, NativeFunction

_TIME_CHECK_INTERVAL = 2_000
_COPY_STEP = 65_536  # characters a string copy may take per step charged
_C = TypeVar("_C")


@dataclass(frozen=True, slots=True)
class ExpressionLimits:
    """Resource bounds for one evaluation."""

    max_steps: int = 200_000
    max_seconds: float = 1.0
    max_string_length: int = MAX_STRING_LENGTH
    max_array_length: int = 1_000_000
    max_depth: int = 200
    # Characters of all the strings one evaluation builds: each is under max_string_length, but a thousand
    # of them kept in an array would not be. Counted as built, garbage or not (a loop of concatenations).
    max_allocated: int = 10 * MAX_STRING_LENGTH


DEFAULT_LIMITS = ExpressionLimits()


class Context:
    """Mutable state of one evaluation (budgets, the current local scope, owned containers)."""

    __slots__ = (
        "allocated",
        "deadline",
        "depth",
        "env",
        "limits",
        "next_check",
        "owned",
        "steps",
        "variables",
    )

    def __init__(self, variables: Mapping[str, Any], limits: ExpressionLimits) -> None:
        self.variables = variables
        self.limits = limits
        self.steps = 0
        self.allocated = 0
        self.next_check = 0  # the first charge starts the clock: most expressions never charge at all
        self.deadline = 0.0
        self.depth = 0
        self.env: list[Any] | None = None
        self.owned: dict[int, Any] = {}

    def charge(self, steps: int) -> None:
        """Account for ``steps`` units of work; checks the step and wall-clock budgets periodically."""
        self.steps += steps
        if self.steps >= self.next_check:
            limits = self.limits
            if self.steps > limits.max_steps:
                raise ExpressionLimitError(f"Expression exceeded the step budget ({limits.max_steps} steps)")
            now = time.monotonic()
            if not self.deadline:
                self.deadline = now + limits.max_seconds
            elif now > self.deadline:
                raise ExpressionLimitError(f"Expression exceeded the time budget ({limits.max_seconds} s)")
            self.next_check = min(self.steps + _TIME_CHECK_INTERVAL, limits.max_steps + 1)

    def remaining_seconds(self) -> float:
        """The wall-clock budget left (starting the clock if nothing has yet): how long a native operation
        that cannot count steps, such as a regex match, may run."""
        now = time.monotonic()
        if not self.deadline:
            self.deadline = now + self.limits.max_seconds
        left = self.deadline - now
        if left <= 0:
            raise ExpressionLimitError(f"Expression exceeded the time budget ({self.limits.max_seconds} s)")
        return left

    def check_string(self, length: int, operation: str = "") -> None:
        """Call *before* building a string of ``length`` characters (``operation`` names it in the error).

        A large string also charges steps by its size, so the wall-clock budget is looked at between big
        copies (a loop of concatenations) rather than only every few thousand cheap steps.
        """
        self.check_length(length, operation)
        self.allocated += length
        if self.allocated > self.limits.max_allocated:
            raise ExpressionLimitError(
                f"Expression built too much text ({self.allocated} > {self.limits.max_allocated} characters "
                f"in all, at {operation or 'a string'})"
            )
        if length >= _COPY_STEP:
            self.charge(length // _COPY_STEP)

    def check_length(self, length: int, operation: str) -> None:
        """The size check alone, for a running total that grows while one result is built."""
        if length > self.limits.max_string_length:
            where = f" in {operation}" if operation else ""
            raise ExpressionLimitError(
                f"String result too large{where} ({length} > {self.limits.max_string_length} characters)"
            )

    def check_array(self, length: int) -> None:
        """Call *before* building an array of ``length`` elements; also charges one step per element."""
        if length > self.limits.max_array_length:
            raise ExpressionLimitError(
                f"Array result too large ({length} > {self.limits.max_array_length} elements)"
            )
        self.charge(length)

    def own(self, container: _C) -> _C:
        """Record a list/dict this evaluation created: only those may be mutated (host data is read-only)."""
        self.owned[id(container)] = container
        return container

    def is_owned(self, container: Any) -> bool:
        return self.owned.get(id(container)) is container

    def ensure_owned(self, container: Any) -> None:
        if not self.is_owned(container):
            raise ExpressionError(
                "Cannot modify data passed to the expression; copy it first (e.g. [...arr] or {...obj})"
            )


class Builtin(NativeFunction):
    """A function implemented by the engine; it receives the evaluation context for budgets.

    ``fresh`` marks functions whose list/dict results are new containers the expression may mutate.
    """

    __slots__ = ("fresh", "impl")

    def __init__(
        self,
        name: str,
        impl: Callable[[Context, list[Any]], Any],
        members: dict[str, Any] | None = None,
        fresh: bool = True,
    ) -> None:
        super().__init__(name, _context_required, members)
        self.impl = impl
        self.fresh = fresh


def _context_required(args: list[Any]) -> Any:
    raise ExpressionError("This function can only be called from an expression")


def call_function(ctx: Context, fn: Any, args: list[Any], label: str = "") -> Any:
    """Call a function value; anything that is not a function is a JS TypeError."""
    if isinstance(fn, Builtin):
        result = fn.impl(ctx, args)
        if fn.fresh and type(result) in (list, dict):
            ctx.own(result)
        return result
    if isinstance(fn, NativeFunction):
        return fn.fn(args)
    raise ExpressionError(f"{label or 'value'} is not a function")


def arg(args: list[Any], index: int) -> Any:
    """Positional argument or ``undefined``, as JS passes missing arguments."""
    return args[index] if index < len(args) else UNDEFINED
