"""AST node types. ``pos`` is the absolute character offset in the parameter string."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True, slots=True)
class Node:
    pos: int


@dataclass(frozen=True, slots=True)
class Literal(Node):
    value: Any


@dataclass(frozen=True, slots=True)
class TemplateLiteral(Node):
    quasis: tuple[str, ...]
    expressions: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class RegexLiteral(Node):
    source: str
    flags: str


@dataclass(frozen=True, slots=True)
class Identifier(Node):
    name: str


@dataclass(frozen=True, slots=True)
class Spread(Node):
    argument: Node


@dataclass(frozen=True, slots=True)
class ArrayLiteral(Node):
    elements: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Property(Node):
    key: Node  # a string Literal unless computed
    value: Node
    computed: bool


@dataclass(frozen=True, slots=True)
class ObjectLiteral(Node):
    properties: tuple[Node, ...]  # Property or Spread


@dataclass(frozen=True, slots=True)
class Member(Node):
    obj: Node
    prop: Node  # a string Literal unless computed
    computed: bool
    optional: bool


@dataclass(frozen=True, slots=True)
class Call(Node):
    callee: Node
    args: tuple[Node, ...]
    optional: bool


@dataclass(frozen=True, slots=True)
class New(Node):
    name: str
    args: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class OptionalChain(Node):
    """Boundary of a chain containing ``?.``: a nullish short-circuit anywhere inside yields undefined."""

    expression: Node


@dataclass(frozen=True, slots=True)
class Unary(Node):
    op: str
    operand: Node


@dataclass(frozen=True, slots=True)
class Binary(Node):
    op: str
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Sequence(Node):
    """The comma operator: every expression is evaluated left to right, the last one is the value."""

    expressions: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Conditional(Node):
    test: Node
    then: Node
    otherwise: Node


@dataclass(frozen=True, slots=True)
class Assign(Node):
    op: str
    target: Node
    value: Node


@dataclass(frozen=True, slots=True)
class ArrayPattern(Node):
    elements: tuple[Node | None, ...]


@dataclass(frozen=True, slots=True)
class ObjectPattern(Node):
    keys: tuple[str, ...]
    targets: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Function(Node):
    params: tuple[Node, ...]  # Identifier or patterns
    body: Node  # an expression, or a Block


@dataclass(frozen=True, slots=True)
class Block(Node):
    body: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class VarDecl(Node):
    targets: tuple[Node, ...]
    inits: tuple[Node | None, ...]


@dataclass(frozen=True, slots=True)
class If(Node):
    test: Node
    then: Node
    otherwise: Node | None


@dataclass(frozen=True, slots=True)
class Return(Node):
    value: Node | None


@dataclass(frozen=True, slots=True)
class ExprStmt(Node):
    expression: Node


def children(node: Node) -> Iterator[Node]:
    for field in fields(node):
        value = getattr(node, field.name)
        if isinstance(value, Node):
            yield value
        elif isinstance(value, tuple):
            yield from (v for v in value if isinstance(v, Node))


def walk(root: Node) -> Iterator[Node]:
    """All nodes, iteratively (trees may be deeper than is safe to recurse before validation)."""
    stack = [root]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(children(node))


def depth(root: Node) -> int:
    deepest = 0
    stack = [(root, 1)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in children(node))
    return deepest
