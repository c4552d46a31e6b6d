"""Pratt parser for the expression subset (plus the statements allowed in arrow-function bodies).

Recursion is bounded by an explicit nesting counter so hostile input such as 10,000 nested parentheses
fails with a syntax error instead of a Python ``RecursionError``.
"""

from __future__ import annotations

from .errors import ExpressionError, ExpressionSyntaxError
from .lexer import MAX_NESTING, Template, Token
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
    depth,
)
from .regex import compile_js_regex
from .values import UNDEFINED, number_to_string

# Binding powers follow JavaScript's precedence table; 1 is the comma (sequence) operator.
_COMMA = 1
_BINARY = {
    "??": 4,
    "||": 5,
    "&&": 6,
    "|": 7,
    "^": 8,
    "&": 9,
    "==": 10,
    "!=": 10,
    "===": 10,
    "!==": 10,
    "<": 11,
    ">": 11,
    "<=": 11,
    ">=": 11,
    "in": 11,
    "<<": 12,
    ">>": 12,
    ">>>": 12,
    "+": 13,
    "-": 13,
    "*": 14,
    "/": 14,
    "%": 14,
    "**": 15,
}
_ASSIGN = frozenset({"=", "+=", "-=", "*=", "/=", "%=", "**=", "&=", "|=", "^=", "<<=", ">>=", ">>>="})
_PREFIX = frozenset({"!", "-", "+", "~", "typeof", "void"})
_LITERALS = {"true": True, "false": False, "null": None, "undefined": UNDEFINED}
_RESERVED = frozenset(
    {
        "break",
        "case",
        "catch",
        "class",
        "const",
        "continue",
        "debugger",
        "default",
        "delete",
        "do",
        "else",
        "export",
        "extends",
        "finally",
        "for",
        "if",
        "import",
        "instanceof",
        "let",
        "return",
        "super",
        "switch",
        "throw",
        "try",
        "var",
        "while",
        "with",
        "yield",
        "await",
        "async",
        "in",
        "of",
        "typeof",
        "void",
        "new",
    }
)
_UNSUPPORTED_STATEMENTS = frozenset(
    {"for", "while", "do", "switch", "try", "throw", "break", "continue", "class", "function", "import"}
)


class Parser:
    def __init__(self, tokens: list[Token], max_depth: int = MAX_NESTING, nesting: int = 0) -> None:
        self.tokens = tokens
        self.i = 0
        self.max_depth = max_depth
        self.nesting = nesting
        self.closing = _match_parens(tokens)

    # -------------------------------------------------------------- helpers

    def peek(self, offset: int = 0) -> Token:
        return self.tokens[min(self.i + offset, len(self.tokens) - 1)]

    def next(self) -> Token:
        tok = self.tokens[self.i]
        if tok.kind != "eof":
            self.i += 1
        return tok

    def at(self, value: str, kind: str = "punct") -> bool:
        tok = self.tokens[self.i]
        return tok.kind == kind and tok.value == value

    def accept(self, value: str, kind: str = "punct") -> bool:
        if self.at(value, kind):
            self.i += 1
            return True
        return False

    def expect(self, value: str) -> Token:
        if not self.at(value):
            raise self.unexpected(f"expected '{value}'")
        return self.next()

    def unexpected(self, hint: str = "") -> ExpressionSyntaxError:
        tok = self.peek()
        what = "end of expression" if tok.kind == "eof" else f"token '{_describe(tok)}'"
        return ExpressionSyntaxError(f"Unexpected {what}" + (f", {hint}" if hint else ""), column=tok.pos + 1)

    def enter(self) -> None:
        self.nesting += 1
        if self.nesting > self.max_depth:
            raise ExpressionSyntaxError("Expression is nested too deeply", column=self.peek().pos + 1)

    def name(self) -> str:
        tok = self.next()
        if tok.kind != "name":
            self.i -= tok.kind != "eof"
            raise self.unexpected("expected a name")
        return str(tok.value)

    # -------------------------------------------------------------- entry points

    def parse_program(self) -> Node | None:
        """A single expression, optionally followed by ``;`` (n8n allows ``{{ Math.min(1, 2); }}``)."""
        if self.peek().kind == "eof":
            return None
        expression = self.parse_expression()
        while self.accept(";"):
            pass
        if self.peek().kind != "eof":
            raise self.unexpected()
        if depth(expression) > self.max_depth:
            raise ExpressionSyntaxError("Expression is nested too deeply", column=expression.pos + 1)
        return expression

    def parse_expression(self, min_bp: int = 0) -> Node:
        self.enter()
        left = self.parse_unary()
        while True:
            tok = self.peek()
            op = tok.value
            if tok.kind == "punct" and op == "," and min_bp < _COMMA:
                expressions = [left]
                while self.accept(","):
                    expressions.append(self.parse_expression(_COMMA))
                left = Sequence(tok.pos, tuple(expressions))
            elif tok.kind == "punct" and op == "?" and min_bp < 3:
                self.next()
                then = self.parse_expression(_COMMA)
                self.expect(":")
                left = Conditional(tok.pos, left, then, self.parse_expression(2))
            elif tok.kind == "punct" and op in _ASSIGN and min_bp < 2:
                if not isinstance(left, Identifier | Member):
                    raise ExpressionSyntaxError("Invalid assignment target", column=tok.pos + 1)
                self.next()
                left = Assign(tok.pos, op, left, self.parse_expression(_COMMA))
            elif (tok.kind == "punct" or (tok.kind == "name" and op == "in")) and op in _BINARY:
                bp = _BINARY[op]
                if bp <= min_bp:
                    break
                self.next()
                left = Binary(tok.pos, op, left, self.parse_expression(bp - 1 if op == "**" else bp))
            elif tok.kind == "name" and op == "instanceof":
                raise ExpressionSyntaxError("The 'instanceof' operator is not supported", column=tok.pos + 1)
            else:
                break
        self.nesting -= 1
        return left

    def parse_unary(self) -> Node:
        """Prefix operators are collected in a loop (``!!!!x`` must not recurse per operator)."""
        ops: list[Token] = []
        while (tok := self.peek()).kind in ("punct", "name") and tok.value in _PREFIX:
            ops.append(self.next())
        if self.peek().value in ("++", "--") and self.peek().kind == "punct":
            raise ExpressionSyntaxError(
                "The '++'/'--' operators are not supported", column=self.peek().pos + 1
            )
        node = self.parse_postfix()
        for tok in reversed(ops):
            node = Unary(tok.pos, str(tok.value), node)
        return node

    def parse_postfix(self) -> Node:
        node = self.parse_new() if self.at("new", "name") else self.parse_primary()
        optional_chain = False
        while True:
            tok = self.peek()
            if tok.kind != "punct":
                break
            if tok.value == ".":
                self.next()
                node = Member(tok.pos, node, Literal(self.peek().pos, self.name()), False, False)
            elif tok.value == "?.":
                self.next()
                optional_chain = True
                if self.at("("):
                    node = Call(tok.pos, node, self.parse_arguments(), True)
                elif self.accept("["):
                    node = Member(tok.pos, node, self.parse_expression(), True, True)
                    self.expect("]")
                else:
                    node = Member(tok.pos, node, Literal(self.peek().pos, self.name()), False, True)
            elif tok.value == "[":
                self.next()
                node = Member(tok.pos, node, self.parse_expression(), True, False)
                self.expect("]")
            elif tok.value == "(":
                node = Call(tok.pos, node, self.parse_arguments(), False)
            elif tok.value in ("++", "--"):
                raise ExpressionSyntaxError("The '++'/'--' operators are not supported", column=tok.pos + 1)
            else:
                break
        return OptionalChain(node.pos, node) if optional_chain else node

    def parse_new(self) -> Node:
        start = self.next()
        name = self.name()
        args = self.parse_arguments() if self.at("(") else ()
        return New(start.pos, name, args)

    def parse_arguments(self) -> tuple[Node, ...]:
        self.expect("(")
        args: list[Node] = []
        while not self.at(")"):
            args.append(self.parse_element())
            if not self.accept(","):
                break
        self.expect(")")
        return tuple(args)

    def parse_element(self) -> Node:
        """An argument or array element, possibly spread."""
        tok = self.peek()
        if self.accept("..."):
            return Spread(tok.pos, self.parse_expression(_COMMA))
        return self.parse_expression(_COMMA)

    # -------------------------------------------------------------- primaries

    def parse_primary(self) -> Node:
        tok = self.next()
        kind, value = tok.kind, tok.value
        if kind in ("num", "str"):
            return Literal(tok.pos, value)
        if kind == "template":
            return self.parse_template(tok)
        if kind == "regex":
            source, flags = value
            try:
                compile_js_regex(source, flags)
            except ExpressionError as exc:
                raise ExpressionSyntaxError(exc.message, column=tok.pos + 1) from None
            return RegexLiteral(tok.pos, source, flags)
        if kind == "name":
            if value in _LITERALS:
                return Literal(tok.pos, _LITERALS[value])
            if value == "function":
                return self.parse_function_expression(tok)
            if value in _RESERVED:
                self.i -= 1
                raise self.unexpected()
            if self.at("=>"):
                self.next()
                return self.parse_arrow_body(tok, (Identifier(tok.pos, value),))
            return Identifier(tok.pos, value)
        if kind == "punct":
            if value == "(":
                close = self.closing.get(self.i - 1)
                after = self.tokens[close + 1] if close is not None else None
                if after is not None and after.kind == "punct" and after.value == "=>":
                    return self.parse_arrow(tok)
                inner = self.parse_expression()
                self.expect(")")
                return inner
            if value == "[":
                return self.parse_array(tok)
            if value == "{":
                return self.parse_object(tok)
        self.i -= tok.kind != "eof"
        raise self.unexpected()

    def parse_template(self, tok: Token) -> Node:
        template: Template = tok.value
        expressions = []
        for tokens in template.expressions:
            sub = Parser(tokens, self.max_depth, self.nesting + 1)
            if sub.peek().kind == "eof":
                raise ExpressionSyntaxError("Empty ${} in template literal", column=sub.peek().pos + 1)
            expressions.append(sub.parse_expression())
            if sub.peek().kind != "eof":
                raise sub.unexpected()
        return TemplateLiteral(tok.pos, tuple(template.quasis), tuple(expressions))

    def parse_array(self, tok: Token) -> Node:
        elements: list[Node] = []
        while not self.at("]"):
            if self.at(","):
                elements.append(Literal(self.next().pos, UNDEFINED))
                continue
            elements.append(self.parse_element())
            if not self.accept(","):
                break
        self.expect("]")
        return ArrayLiteral(tok.pos, tuple(elements))

    def parse_object(self, tok: Token) -> Node:
        props: list[Node] = []
        while not self.at("}"):
            start = self.peek()
            if self.accept("..."):
                props.append(Spread(start.pos, self.parse_expression(_COMMA)))
            elif self.accept("["):
                key = self.parse_expression(_COMMA)
                self.expect("]")
                self.expect(":")
                props.append(Property(start.pos, key, self.parse_expression(_COMMA), True))
            else:
                key_tok = self.next()
                if key_tok.kind not in ("name", "str", "num"):
                    self.i -= key_tok.kind != "eof"
                    raise self.unexpected("expected a property name")
                key_text = number_to_string(key_tok.value) if key_tok.kind == "num" else str(key_tok.value)
                key_node = Literal(key_tok.pos, key_text)
                if self.accept(":"):
                    value = self.parse_expression(_COMMA)
                elif self.at("("):
                    value = self.parse_function_rest(key_tok)
                elif key_tok.kind == "name" and key_text not in _RESERVED and (self.at(",") or self.at("}")):
                    value = Identifier(key_tok.pos, key_text)
                else:
                    raise self.unexpected("expected ':'")
                props.append(Property(start.pos, key_node, value, False))
            if not self.accept(","):
                break
        self.expect("}")
        return ObjectLiteral(tok.pos, tuple(props))

    # -------------------------------------------------------------- functions

    def parse_params(self) -> tuple[Node, ...]:
        self.expect("(")
        params: list[Node] = []
        while not self.at(")"):
            params.append(self.parse_pattern())
            if self.at("=") or self.at("..."):
                raise ExpressionSyntaxError(
                    "Default and rest parameters are not supported", column=self.peek().pos + 1
                )
            if not self.accept(","):
                break
        self.expect(")")
        return tuple(params)

    def parse_arrow(self, open_tok: Token) -> Node:
        self.i -= 1  # back to the '('
        params = self.parse_params()
        self.expect("=>")
        return self.parse_arrow_body(open_tok, params)

    def parse_arrow_body(self, start: Token, params: tuple[Node, ...]) -> Node:
        if self.at("{"):
            return Function(start.pos, params, self.parse_block())
        return Function(start.pos, params, self.parse_expression(_COMMA))

    def parse_function_expression(self, start: Token) -> Node:
        if self.peek().kind == "name":
            self.next()  # the name of a named function expression is not bound
        return self.parse_function_rest(start)

    def parse_function_rest(self, start: Token) -> Node:
        params = self.parse_params()
        return Function(start.pos, params, self.parse_block())

    def parse_pattern(self) -> Node:
        self.enter()
        tok = self.peek()
        node: Node
        if self.accept("["):
            elements: list[Node | None] = []
            while not self.at("]"):
                if self.accept(","):
                    elements.append(None)
                    continue
                elements.append(self.parse_pattern())
                if not self.accept(","):
                    break
            self.expect("]")
            node = ArrayPattern(tok.pos, tuple(elements))
        elif self.accept("{"):
            keys: list[str] = []
            targets: list[Node] = []
            while not self.at("}"):
                key_tok = self.peek()
                key = self.name() if key_tok.kind == "name" else str(self.next().value)
                keys.append(key)
                targets.append(self.parse_pattern() if self.accept(":") else self.binding(key_tok, key))
                if not self.accept(","):
                    break
            self.expect("}")
            node = ObjectPattern(tok.pos, tuple(keys), tuple(targets))
        else:
            node = self.binding(tok, self.name())
        self.nesting -= 1
        return node

    def binding(self, tok: Token, name: str) -> Identifier:
        if name in _RESERVED or name in _LITERALS:
            raise ExpressionSyntaxError(f"Invalid variable name '{name}'", column=tok.pos + 1)
        return Identifier(tok.pos, name)

    # -------------------------------------------------------------- statements (function bodies)

    def parse_block(self) -> Block:
        start = self.expect("{")
        body: list[Node] = []
        while not self.at("}"):
            if self.peek().kind == "eof":
                raise self.unexpected("expected '}'")
            statement = self.parse_statement()
            if statement is not None:
                body.append(statement)
        self.expect("}")
        return Block(start.pos, tuple(body))

    def parse_statement(self) -> Node | None:
        self.enter()
        tok = self.peek()
        statement: Node | None
        if self.accept(";"):
            statement = None
        elif self.at("{"):
            statement = self.parse_block()
        elif tok.kind == "name" and tok.value in ("const", "let", "var"):
            self.next()
            targets: list[Node] = []
            inits: list[Node | None] = []
            while True:
                targets.append(self.parse_pattern())
                inits.append(self.parse_expression(_COMMA) if self.accept("=") else None)
                if not self.accept(","):
                    break
            self.accept(";")
            statement = VarDecl(tok.pos, tuple(targets), tuple(inits))
        elif self.accept("if", "name"):
            self.expect("(")
            test = self.parse_expression()
            self.expect(")")
            then = self.parse_statement() or Block(tok.pos, ())
            otherwise = (
                (self.parse_statement() or Block(tok.pos, ())) if self.accept("else", "name") else None
            )
            statement = If(tok.pos, test, then, otherwise)
        elif self.accept("return", "name"):
            value = None if self.at(";") or self.at("}") else self.parse_expression()
            self.accept(";")
            statement = Return(tok.pos, value)
        elif tok.kind == "name" and tok.value in _UNSUPPORTED_STATEMENTS:
            raise ExpressionSyntaxError(f"'{tok.value}' statements are not supported", column=tok.pos + 1)
        else:
            statement = ExprStmt(tok.pos, self.parse_expression())
            self.accept(";")
        self.nesting -= 1
        return statement


def _match_parens(tokens: list[Token]) -> dict[int, int]:
    """Index of the matching ``)`` for every ``(`` (lets the parser spot arrow functions in O(1))."""
    closing: dict[int, int] = {}
    stack: list[int] = []
    for index, tok in enumerate(tokens):
        if tok.kind != "punct":
            continue
        if tok.value == "(":
            stack.append(index)
        elif tok.value == ")" and stack:
            closing[stack.pop()] = index
    return closing


def _describe(tok: Token) -> str:
    if tok.kind == "str":
        return repr(tok.value)[:40]
    if tok.kind in ("template", "regex"):
        return tok.kind
    return str(tok.value)[:40]
