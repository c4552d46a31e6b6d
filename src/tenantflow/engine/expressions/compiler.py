"""Compile the AST into nested Python closures ``(ctx) -> value``.

Closures avoid per-evaluation tree walking and type dispatch, which is what makes rendering ``$json.a`` a
few microseconds. Local variables are resolved at compile time to (scope hops, slot) pairs; every other
identifier is looked up in the host variables, then the globals.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .access import DENIED_MEMBERS, get_property, has_property, invoke_method, property_key, set_property
from .builtins import CONSTRUCTORS, DENIED_GLOBALS, GLOBALS
from .errors import ExpressionError, ExpressionLimitError, ExpressionSyntaxError
from .nodes import (
    ArrayLiteral,
    ArrayPattern,
    Assign,
    Binary,
    Block,
    Call,
    Conditional,
    ExprStmt,
    Function,
    Identifier,
    If,
    Literal,
    Member,
    New,
    Node,
    ObjectLiteral,
    ObjectPattern,
    OptionalChain,
    Property,
    RegexLiteral,
    Return,
    Sequence,
    Spread,
    TemplateLiteral,
    Unary,
    VarDecl,
    walk,
)
from .operators import BINARY, add, bitwise_not
from .regex import JSRegExp
from .runtime import Builtin, Context, call_function
from .values import (
    MAX_SAFE,
    UNDEFINED,
    HostObject,
    js_num,
    js_string,
    js_truthy,
    js_typeof,
    to_json,
    to_number,
)

Eval = Callable[[Context], Any]
Binder = Callable[[Context, list[Any], Any], None]
Combine = Callable[[Context, Any, Any], Any]

_CONTINUE: Any = object()  # completion of a statement that did not return


class _ShortCircuit(Exception):
    """Raised by a ``?.`` on a nullish value; caught at the boundary of its optional chain."""


_SHORT = _ShortCircuit()


def _iterable(value: Any) -> list[Any]:
    if type(value) is list:
        return value
    if type(value) is str:
        return list(value)
    raise ExpressionError(f"TypeError: {js_typeof(value)} is not iterable")


def _spread_object(value: Any) -> dict[str, Any]:
    if type(value) is dict:
        return value
    if type(value) in (list, str):
        return {str(i): v for i, v in enumerate(value)}
    if isinstance(value, HostObject):
        data = to_json(value)
        return data if type(data) is dict else {}
    return {}


def _combiner(op: str) -> Combine | None:
    """The operation of a compound assignment (``+=`` -> ``+``); None for plain ``=``."""
    if op == "=":
        return None
    if op == "+=":
        return add
    binary = BINARY[op[:-1]]
    return lambda ctx, a, b: binary(a, b)


def _pattern_names(pattern: Node | None) -> list[str]:
    if isinstance(pattern, Identifier):
        return [pattern.name]
    if isinstance(pattern, ArrayPattern):
        return [name for element in pattern.elements for name in _pattern_names(element)]
    if isinstance(pattern, ObjectPattern):
        return [name for target in pattern.targets for name in _pattern_names(target)]
    return []


def _pattern_names_of(node: Function) -> set[str]:
    return {name for p in node.params for name in _pattern_names(p)}


def _declared_names(statement: Node | None) -> list[str]:
    """Names declared with const/let/var in a function body (function-scoped; nested functions excluded)."""
    if isinstance(statement, VarDecl):
        return [name for target in statement.targets for name in _pattern_names(target)]
    if isinstance(statement, Block):
        return [name for s in statement.body for name in _declared_names(s)]
    if isinstance(statement, If):
        return _declared_names(statement.then) + _declared_names(statement.otherwise)
    return []


class Compiler:
    def __init__(self) -> None:
        self.scopes: list[dict[str, int]] = []  # per enclosing function: name -> slot in its env list

    def compile(self, node: Node) -> Eval:
        handler = _HANDLERS.get(type(node))
        if handler is None:
            raise ExpressionSyntaxError("Unsupported syntax", column=node.pos + 1)
        return handler(self, node)

    def resolve(self, name: str) -> tuple[int, int] | None:
        for hops, scope in enumerate(reversed(self.scopes)):
            if name in scope:
                return hops, scope[name]
        return None

    # -------------------------------------------------------------- literals

    def literal(self, node: Literal) -> Eval:
        value = node.value
        return lambda ctx: value

    def regex(self, node: RegexLiteral) -> Eval:
        rx = JSRegExp(node.source, node.flags)
        return lambda ctx: rx

    def template(self, node: TemplateLiteral) -> Eval:
        head, tail = node.quasis[0], node.quasis[1:]
        parts = [self.compile(e) for e in node.expressions]

        def render(ctx: Context) -> str:
            out = [head]
            for part, text in zip(parts, tail, strict=True):
                out += (js_string(part(ctx)), text)
            ctx.check_string(sum(map(len, out)), "template literal")
            return "".join(out)

        return render

    def compile_list(self, nodes: tuple[Node, ...]) -> Callable[[Context], list[Any]]:
        """Arguments or array elements, expanding ``...spread``."""
        if not any(isinstance(n, Spread) for n in nodes):
            fns = tuple(self.compile(n) for n in nodes)
            if not fns:
                return lambda ctx: []
            if len(fns) == 1:
                only = fns[0]
                return lambda ctx: [only(ctx)]
            return lambda ctx: [f(ctx) for f in fns]
        items = [
            (isinstance(n, Spread), self.compile(n.argument if isinstance(n, Spread) else n)) for n in nodes
        ]

        def build(ctx: Context) -> list[Any]:
            out: list[Any] = []
            for is_spread, fn in items:
                if is_spread:
                    values = _iterable(fn(ctx))
                    ctx.check_array(len(out) + len(values))
                    out.extend(values)
                else:
                    out.append(fn(ctx))
            return out

        return build

    def array(self, node: ArrayLiteral) -> Eval:
        build = self.compile_list(node.elements)
        return lambda ctx: ctx.own(build(ctx))

    def object(self, node: ObjectLiteral) -> Eval:
        entries: list[tuple[str, Any, Eval]] = []
        for prop in node.properties:
            if isinstance(prop, Spread):
                entries.append(("spread", None, self.compile(prop.argument)))
            elif isinstance(prop, Property) and prop.computed:
                entries.append(("computed", self.compile(prop.key), self.compile(prop.value)))
            elif isinstance(prop, Property) and isinstance(prop.key, Literal):
                entries.append(("static", prop.key.value, self.compile(prop.value)))

        def build(ctx: Context) -> dict[str, Any]:
            out: dict[str, Any] = {}
            for kind, key, value in entries:
                if kind == "static":
                    out[key] = value(ctx)
                elif kind == "computed":
                    out[property_key(key(ctx))] = value(ctx)
                else:
                    out.update(_spread_object(value(ctx)))
            return ctx.own(out)

        return build

    # -------------------------------------------------------------- names and members

    def identifier(self, node: Identifier) -> Eval:
        name = node.name
        local = self.resolve(name)
        if local is not None:
            hops, slot = local
            if hops == 0:
                return lambda ctx: ctx.env[slot]  # type: ignore[index]

            def outer(ctx: Context) -> Any:
                env: Any = ctx.env
                for _ in range(hops):
                    env = env[0]
                return env[slot]

            return outer
        if name in DENIED_GLOBALS:
            return lambda ctx: {}
        default = GLOBALS.get(name, UNDEFINED)

        def lookup(ctx: Context) -> Any:
            try:
                return ctx.variables[name]
            except KeyError:
                return default

        return lookup

    def member(self, node: Member) -> Eval:
        obj = self.compile(node.obj)
        optional = node.optional
        if node.computed:
            key = self.compile(node.prop)

            def computed(ctx: Context) -> Any:
                target = obj(ctx)
                if optional and (target is None or target is UNDEFINED):
                    raise _SHORT
                return get_property(target, key(ctx))

            return computed
        name = node.prop.value if isinstance(node.prop, Literal) else ""
        if name in DENIED_MEMBERS:
            return lambda ctx: get_property(obj(ctx), name)

        def static(ctx: Context) -> Any:
            target = obj(ctx)
            if type(target) is dict:
                return target.get(name, UNDEFINED)
            if optional and (target is None or target is UNDEFINED):
                raise _SHORT
            return get_property(target, name)

        return static

    def optional_chain(self, node: OptionalChain) -> Eval:
        inner = self.compile(node.expression)

        def chain(ctx: Context) -> Any:
            try:
                return inner(ctx)
            except _ShortCircuit:
                return UNDEFINED

        return chain

    def call(self, node: Call) -> Eval:
        args = self.compile_list(node.args)
        callee = node.callee
        optional_call = node.optional
        if isinstance(callee, Member) and not optional_call:
            obj = self.compile(callee.obj)
            optional_obj = callee.optional
            if callee.computed:
                key_fn = self.compile(callee.prop)
            else:
                name = callee.prop.value if isinstance(callee.prop, Literal) else ""
                key_fn = lambda ctx: name  # noqa: E731

            def method_call(ctx: Context) -> Any:
                target = obj(ctx)
                if optional_obj and (target is None or target is UNDEFINED):
                    raise _SHORT
                return invoke_method(ctx, target, property_key(key_fn(ctx)), args(ctx))

            return method_call
        fn = self.compile(callee)
        label = callee.name if isinstance(callee, Identifier) else "expression"

        def function_call(ctx: Context) -> Any:
            value = fn(ctx)
            if optional_call and (value is None or value is UNDEFINED):
                raise _SHORT
            return call_function(ctx, value, args(ctx), label)

        return function_call

    def new(self, node: New) -> Eval:
        construct = CONSTRUCTORS.get(node.name)
        args = self.compile_list(node.args)
        name = node.name

        def instantiate(ctx: Context) -> Any:
            if construct is None:
                raise ExpressionError(
                    f"TypeError: {name} is not a constructor (new is limited to Date, "
                    "String, Array and Object)"
                )
            result = construct(ctx, args(ctx))
            return ctx.own(result) if type(result) in (list, dict) else result

        return instantiate

    # -------------------------------------------------------------- operators

    def unary(self, node: Unary) -> Eval:
        operand = self.compile(node.operand)
        op = node.op
        if op == "!":
            return lambda ctx: not js_truthy(operand(ctx))
        if op == "+":
            return lambda ctx: to_number(operand(ctx))
        if op == "typeof":
            return lambda ctx: js_typeof(operand(ctx))
        if op == "void":
            return lambda ctx: (operand(ctx), UNDEFINED)[1]
        if op == "~":
            return lambda ctx: bitwise_not(operand(ctx))

        def negate(ctx: Context) -> Any:
            value = operand(ctx)
            return -value if type(value) is int else js_num(-float(to_number(value)))

        return negate

    def binary(self, node: Binary) -> Eval:
        left, right = self.compile(node.left), self.compile(node.right)
        op = node.op
        if op == "&&":
            return lambda ctx: right(ctx) if js_truthy(value := left(ctx)) else value
        if op == "||":
            return lambda ctx: value if js_truthy(value := left(ctx)) else right(ctx)
        if op == "??":
            return lambda ctx: right(ctx) if (value := left(ctx)) is None or value is UNDEFINED else value
        if op == "+":

            def plus(ctx: Context) -> Any:
                a, b = left(ctx), right(ctx)
                if type(a) is int and type(b) is int and -MAX_SAFE < (total := a + b) < MAX_SAFE:
                    return total
                return add(ctx, a, b)

            return plus
        if op == "in":

            def contains(ctx: Context) -> bool:
                key = left(ctx)
                return has_property(right(ctx), key)

            return contains
        operation = BINARY[op]
        return lambda ctx: operation(left(ctx), right(ctx))

    def sequence(self, node: Sequence) -> Eval:
        *heads, last = [self.compile(e) for e in node.expressions]

        def evaluate(ctx: Context) -> Any:
            for head in heads:
                head(ctx)
            return last(ctx)

        return evaluate

    def conditional(self, node: Conditional) -> Eval:
        test, then, otherwise = self.compile(node.test), self.compile(node.then), self.compile(node.otherwise)
        return lambda ctx: then(ctx) if js_truthy(test(ctx)) else otherwise(ctx)

    def assign(self, node: Assign) -> Eval:
        value = self.compile(node.value)
        combine = _combiner(node.op)
        target = node.target
        if isinstance(target, Identifier):
            local = self.resolve(target.name)
            if local is None:
                raise ExpressionSyntaxError(
                    f"Cannot assign to '{target.name}': only local variables can be assigned",
                    column=node.pos + 1,
                )
            hops, slot = local

            def assign_local(ctx: Context) -> Any:
                env: Any = ctx.env
                for _ in range(hops):
                    env = env[0]
                result = value(ctx) if combine is None else combine(ctx, env[slot], value(ctx))
                env[slot] = result
                return result

            return assign_local
        assert isinstance(target, Member)
        obj = self.compile(target.obj)
        key = self.compile(target.prop)

        def assign_member(ctx: Context) -> Any:
            container, name = obj(ctx), key(ctx)
            result = (
                value(ctx) if combine is None else combine(ctx, get_property(container, name), value(ctx))
            )
            set_property(ctx, container, name, result)
            return result

        return assign_member

    # -------------------------------------------------------------- functions

    def function(self, node: Function) -> Eval:
        slots: dict[str, int] = {}
        for name in [n for p in node.params for n in _pattern_names(p)] + _declared_names(node.body):
            slots.setdefault(name, len(slots) + 1)
        self.scopes.append(slots)
        try:
            binders = [self.binder(p) for p in node.params]
            if isinstance(node.body, Block):
                block = self.compile(node.body)
                body: Eval = lambda ctx: UNDEFINED if (r := block(ctx)) is _CONTINUE else r  # noqa: E731
            else:
                body = self.compile(node.body)
        finally:
            self.scopes.pop()
        cost = sum(1 for _ in walk(node))
        padding = [UNDEFINED] * len(slots)
        arity = len(node.params)
        # Plain distinct names occupy slots 1..arity, so arguments can be copied into the env directly.
        plain = all(isinstance(p, Identifier) for p in node.params) and len(_pattern_names_of(node)) == arity

        def make(ctx: Context) -> Builtin:
            captured = ctx.env

            def invoke(call_ctx: Context, args: list[Any]) -> Any:
                call_ctx.steps += cost
                if call_ctx.steps >= call_ctx.next_check:
                    call_ctx.charge(0)
                if call_ctx.depth >= call_ctx.limits.max_depth:
                    raise ExpressionLimitError("Maximum call depth exceeded (too much recursion)")
                if plain:
                    env = [captured, *args[:arity]]
                    env += padding[len(env) - 1 :]
                else:
                    env = [captured, *padding]
                    for i, bind in enumerate(binders):
                        bind(call_ctx, env, args[i] if i < len(args) else UNDEFINED)
                saved = call_ctx.env
                call_ctx.env = env
                call_ctx.depth += 1
                try:
                    return body(call_ctx)
                finally:
                    call_ctx.env = saved
                    call_ctx.depth -= 1

            return Builtin("anonymous", invoke, fresh=False)

        return make

    def binder(self, pattern: Node | None) -> Binder:
        """Compile a parameter/declaration target into ``(ctx, env, value) -> None``."""
        if isinstance(pattern, Identifier):
            slot = self.scopes[-1][pattern.name]

            def bind_name(ctx: Context, env: list[Any], value: Any) -> None:
                env[slot] = value

            return bind_name
        if isinstance(pattern, ArrayPattern):
            elements = [None if e is None else self.binder(e) for e in pattern.elements]

            def bind_array(ctx: Context, env: list[Any], value: Any) -> None:
                items = _iterable(value)
                for i, bind in enumerate(elements):
                    if bind is not None:
                        bind(ctx, env, items[i] if i < len(items) else UNDEFINED)

            return bind_array
        assert isinstance(pattern, ObjectPattern)
        fields = [(key, self.binder(t)) for key, t in zip(pattern.keys, pattern.targets, strict=True)]

        def bind_object(ctx: Context, env: list[Any], value: Any) -> None:
            for key, bind in fields:
                bind(ctx, env, get_property(value, key))

        return bind_object

    # -------------------------------------------------------------- statements: return a value or _CONTINUE

    def block(self, node: Block) -> Eval:
        statements = [self.compile(s) for s in node.body]

        def run(ctx: Context) -> Any:
            for statement in statements:
                result = statement(ctx)
                if result is not _CONTINUE:
                    return result
            return _CONTINUE

        return run

    def var_decl(self, node: VarDecl) -> Eval:
        pairs = [
            (self.binder(t), None if init is None else self.compile(init))
            for t, init in zip(node.targets, node.inits, strict=True)
        ]

        def declare(ctx: Context) -> Any:
            for bind, init in pairs:
                bind(ctx, ctx.env, UNDEFINED if init is None else init(ctx))  # type: ignore[arg-type]
            return _CONTINUE

        return declare

    def if_statement(self, node: If) -> Eval:
        test, then = self.compile(node.test), self.compile(node.then)
        otherwise = None if node.otherwise is None else self.compile(node.otherwise)

        def branch(ctx: Context) -> Any:
            if js_truthy(test(ctx)):
                return then(ctx)
            return _CONTINUE if otherwise is None else otherwise(ctx)

        return branch

    def return_statement(self, node: Return) -> Eval:
        if node.value is None:
            return lambda ctx: UNDEFINED
        return self.compile(node.value)

    def expression_statement(self, node: ExprStmt) -> Eval:
        expression = self.compile(node.expression)
        return lambda ctx: (expression(ctx), _CONTINUE)[1]


_HANDLERS: dict[type[Node], Callable[[Compiler, Any], Eval]] = {
    Literal: Compiler.literal,
    RegexLiteral: Compiler.regex,
    TemplateLiteral: Compiler.template,
    ArrayLiteral: Compiler.array,
    ObjectLiteral: Compiler.object,
    Identifier: Compiler.identifier,
    Member: Compiler.member,
    OptionalChain: Compiler.optional_chain,
    Call: Compiler.call,
    New: Compiler.new,
    Unary: Compiler.unary,
    Binary: Compiler.binary,
    Sequence: Compiler.sequence,
    Conditional: Compiler.conditional,
    Assign: Compiler.assign,
    Function: Compiler.function,
    Block: Compiler.block,
    VarDecl: Compiler.var_decl,
    If: Compiler.if_statement,
    Return: Compiler.return_statement,
    ExprStmt: Compiler.expression_statement,
}


def compile_node(node: Node) -> Eval:
    return Compiler().compile(node)


_NODE_REFERENCE_VARIABLES = frozenset({"$node", "$steps", "$nodes"})
_NODE_REFERENCE_FUNCTIONS = frozenset({"$", "$items"})


def node_references(root: Node) -> frozenset[str]:
    """Literal node names referenced via ``$node["X"]``, ``$('X')``, ``$items("X")``, ``$steps.X``..."""
    found: set[str] = set()
    for node in walk(root):
        if (
            isinstance(node, Member)
            and isinstance(node.obj, Identifier)
            and node.obj.name in _NODE_REFERENCE_VARIABLES
            and isinstance(node.prop, Literal)
            and isinstance(node.prop.value, str)
        ):
            found.add(node.prop.value)
        elif (
            isinstance(node, Call)
            and isinstance(node.callee, Identifier)
            and node.callee.name in _NODE_REFERENCE_FUNCTIONS
            and node.args
            and isinstance(node.args[0], Literal)
            and isinstance(node.args[0].value, str)
        ):
            found.add(node.args[0].value)
    return frozenset(found)
