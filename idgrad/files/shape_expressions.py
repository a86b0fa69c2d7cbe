"""Symbolic shape expressions of ``.pt2`` archives: plain arithmetic, and small, or refused.

``torch.export.load`` evaluates every shape expression of an archive with ``sympy.sympify``,
which calls ``eval``. :func:`unsafe_expression` says what is wrong with one before torch
sees it: anything but arithmetic on shape symbols and numbers, or an expression (or a number
it computes) larger than the :class:`~idgrad.files.limits.FileLimits` allow.
"""

from __future__ import annotations

import ast
import functools
import inspect
import math
import re

from idgrad.files.limits import FileLimits, over_limit

__all__ = ["unsafe_expression"]


@functools.cache
def _sympy_function_names() -> frozenset[str]:
    import sympy  # type: ignore[import-untyped]
    import torch.utils._sympy.functions as torch_sympy

    torch_names = {
        n
        for n, v in vars(torch_sympy).items()
        if inspect.isclass(v) and issubclass(v, sympy.Basic) and not n.startswith("_")
    }
    core = {
        "Symbol", "Integer", "Float", "Rational", "Add", "Mul", "Pow", "Abs", "Max", "Min",
        "Mod", "Eq", "Ne", "Lt", "Le", "Gt", "Ge", "And", "Or", "Not", "floor", "ceiling",
        "sqrt", "Piecewise", "ITE",
    }  # fmt: skip
    return frozenset(core | torch_names)


# sympy prints And, Or and Xor of conditions as &, | and ^
_BIN_OPS: tuple[type[ast.operator], ...] = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv)
_BIN_OPS += (ast.Mod, ast.Pow, ast.BitAnd, ast.BitOr, ast.BitXor)
_CMP_BOOL_OPS = (ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.And, ast.Or)
_UNARY = (ast.USub, ast.UAdd, ast.Not, ast.Invert)
_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_SYMBOL = re.compile(r"[A-Za-z]+[0-9]+")  # torch's shape symbols: s0, u3, ps2, ...
_CONSTANT_NAMES = frozenset({"oo", "zoo", "nan", "pi", "E", "I", "true", "false", "int_oo"})
#: Calls whose value is a power of their first argument, the second being the exponent.
_POWERS = frozenset({"Pow", "PowByNatural", "FloatPow"})
#: Calls (besides ``*`` and ``/``) whose arguments' sizes add up in the value they compute.
_PRODUCTS = frozenset({"Mul", "Rational", "IntTrueDiv", "FloatTrueDiv", "CleanDiv"})
#: Calls that make a number from numbers (their arguments must be plain constants).
_NUMBERS = frozenset({"Integer", "Float", "Rational"})
#: Shape symbols, and sympy's named constants, stand for 64-bit values (sizes, hints and
#: ranges are 64-bit in the archive, as :mod:`idgrad.files.exported` checks).
_SYMBOL_BITS = 64


class _TooBig(Exception):
    """An expression whose value cannot be bounded, or is bounded above the limit."""


def unsafe_expression(text: str, limits: FileLimits | None = None) -> str | None:
    """What is wrong with ``text`` as a shape expression (a clause), or None when nothing is.

    Allowed: numbers, shape symbols (``s0``, ``u3``), sympy's constants, ``+ - * / // %``,
    ``**``, comparisons, ``and``/``or``/``not``, and calls of sympy's and torch's symbolic
    functions on such expressions, with True/False keyword arguments; a string only as the
    name in ``Symbol('s0', positive=True)``. Everything else (attributes, subscripts,
    lambdas, builtins, other strings) is refused. The expression must also be small
    (``limits.expression_chars``, ``expression_nodes``, ``expression_depth``) and so must
    every number it computes: sympy evaluates numbers exactly (``(9**64)**64`` has 12 000
    bits, one more ``**64`` 800 000), so the size of each value is bounded from the syntax
    alone, with every symbol taken as a 64-bit value, every exponent a number, and the
    bound at most ``limits.integer_bits``.

    Example:
        >>> unsafe_expression("Max(2, 2*s0 + 1)") is None
        True
        >>> unsafe_expression("exec('import os')")
        "is not plain arithmetic (a call of 'exec'); torch would evaluate it as Python"
        >>> unsafe_expression("((9**64)**64)**64")[:40]
        'computes a number of up to 1048576 bits,'
    """
    limits = FileLimits() if limits is None else limits
    if len(text) > limits.expression_chars:
        return f"is longer than {over_limit('expression_chars', limits)}"
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return "is not plain arithmetic (not an expression)"
    problem = _size_problem(tree.body, limits)
    if problem is None:
        problem = _syntax_problem(tree)
        if problem is not None:
            return f"is not plain arithmetic ({problem}); torch would evaluate it as Python"
    if problem is None:
        try:
            _bits(tree.body, limits.integer_bits)
        except _TooBig as err:
            problem = str(err)
    return problem


def _size_problem(root: ast.AST, limits: FileLimits) -> str | None:
    """Too many nodes or too deep (iteratively: any input is walked without recursion)."""
    count = 0
    stack = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > limits.expression_nodes:
            return f"has more nodes than {over_limit('expression_nodes', limits)}"
        if depth > limits.expression_depth:
            return f"nests deeper than {over_limit('expression_depth', limits)}"
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return None


def _syntax_problem(tree: ast.Expression) -> str | None:
    """Why the parsed expression is not plain arithmetic, or None."""
    nodes = list(ast.walk(tree))
    functions = _sympy_function_names()
    names = set()  # ids of the Name nodes that are called, and of Symbol's name strings
    for node in nodes:
        if isinstance(node, ast.Call):
            problem = _unsafe_call(node, functions)
            if problem is not None:
                return problem
            names.add(id(node.func))
            if node.args and isinstance(node.args[0], ast.Constant):
                names.add(id(node.args[0]))  # a str here is a Symbol's (checked) name
    for node in nodes:
        if isinstance(node, (ast.Expression, ast.Load, ast.keyword, ast.Call, ast.BinOp)):
            continue
        if isinstance(node, (*_BIN_OPS, *_UNARY, *_CMP_BOOL_OPS)):
            continue
        if isinstance(node, (ast.UnaryOp, ast.Compare, ast.BoolOp)):
            continue
        if isinstance(node, ast.Constant):
            value = node.value
            if isinstance(value, str) and id(node) in names:
                continue  # a Symbol's name, checked in _unsafe_call
            if isinstance(value, bool) or (isinstance(value, (int, float)) and abs(value) < 2**63):
                continue
            return f"the constant {value!r}"[:60]
        if isinstance(node, ast.Name):
            if id(node) in names or _SYMBOL.fullmatch(node.id) or node.id in _CONSTANT_NAMES:
                continue
            return f"the name {node.id!r}"
        return f"a {type(node).__name__}"
    return None


def _unsafe_call(node: ast.Call, functions: frozenset[str]) -> str | None:
    if not isinstance(node.func, ast.Name) or node.func.id not in functions:
        return f"a call of {ast.unparse(node.func)!r}"
    for k, arg in enumerate(node.args):
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            if node.func.id != "Symbol" or k != 0 or not _IDENTIFIER.fullmatch(arg.value):
                return f"the string {arg.value[:40]!r} passed to {node.func.id}"
    for kw in node.keywords:
        if kw.arg is None or not _IDENTIFIER.fullmatch(kw.arg):
            return "a ** argument"
        if not (isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, bool)):
            return f"the argument {kw.arg}= that is not True/False"
    if node.func.id in _NUMBERS and not all(_number(a) is not None for a in node.args):
        return f"a {node.func.id} of something other than numbers"
    if node.func.id == "Float" and len(node.args) > 1:
        return "a Float with a precision (sympy would compute with that many digits)"
    return None


def _number(node: ast.AST) -> float | None:
    """The value of a number (``3``, ``-2.5``, ``Integer(4)``, ``Rational(1, 2)``), or None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        return float(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        inner = _number(node.operand)
        return None if inner is None else (-inner if isinstance(node.op, ast.USub) else inner)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
        values = [_number(a) for a in node.args]
        if None in values or not values:
            return None
        if node.func.id in ("Integer", "Float") and len(values) == 1:
            return values[0]
        if node.func.id == "Rational" and len(values) == 2 and values[1]:
            return values[0] / values[1]  # type: ignore[operator]
    return None


def _bits(node: ast.AST, limit: int) -> int:
    """An upper bound on the bits of the value ``node`` computes; _TooBig above ``limit``.

    Recursive: only called on trees whose depth :func:`_size_problem` bounded. Sums,
    differences, minima and the like are at most one bit longer than their largest
    argument; products and quotients (exact rationals in sympy) at most the sum of their
    arguments' bits; a power ``b**e`` at most ``bits(b) * |e|`` and only for a number
    ``e``; a shift ``LShift(a, k)`` at most ``bits(a) + k``.
    """
    if isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return max(1, int(abs(value)).bit_length())  # finite: checked by _syntax_problem
        return 1
    if isinstance(node, ast.Name):
        return _SYMBOL_BITS
    if isinstance(node, ast.UnaryOp):
        return _bits(node.operand, limit)
    if isinstance(node, (ast.Compare, ast.BoolOp)):
        for child in ast.iter_child_nodes(node):
            _bits(child, limit)
        return 1
    if isinstance(node, ast.BinOp):
        if isinstance(node.op, ast.Pow):
            return _power(node.left, node.right, limit)
        left, right = _bits(node.left, limit), _bits(node.right, limit)
        if isinstance(node.op, (ast.Mult, ast.Div)):
            return _within(left + right, limit)
        return _within(max(left, right) + 1, limit)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        name, args = node.func.id, node.args
        if name == "Symbol":
            return _SYMBOL_BITS
        if name in _POWERS and len(args) == 2:
            return _power(args[0], args[1], limit)
        if name == "LShift" and len(args) == 2:
            shift = _number(args[1])
            if shift is None:
                raise _TooBig("shifts by an amount that is not a number (its value has no bound)")
            return _within(_bits(args[0], limit) + max(0, math.ceil(shift)), limit)
        sizes = [_bits(a, limit) for a in args]
        if name in _PRODUCTS:
            return _within(sum(sizes) + 1, limit)
        return _within(max(sizes, default=1) + 1, limit)
    return _SYMBOL_BITS  # pragma: no cover - _syntax_problem allows nothing else


def _power(base: ast.AST, exponent: ast.AST, limit: int) -> int:
    value = _number(exponent)
    if value is None:
        raise _TooBig("has a power whose exponent is not a number (its value has no bound)")
    return _within(_bits(base, limit) * max(1, math.ceil(abs(value))), limit)


def _within(bits: int, limit: int) -> int:
    if bits > limit:
        raise _TooBig(
            f"computes a number of up to {bits} bits, more than the limit integer_bits={limit} "
            "(for a file you trust: limits=FileLimits(integer_bits=...))"
        )
    return bits
