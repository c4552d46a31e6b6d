"""MetaBuilder's 116 function-style operations (``string.concat``, ``math.add``, ``list.filter`` ...).

Each is a node type generated from a table row (see :mod:`tenantflow.nodes.metabuilder.operations.core`):
it runs once per input item with its parameters evaluated against that item and emits
``{"json": {result, ...}}``. The Python plugins' snake_case ids (``convert.parse_json``) are aliases of the
same operations.
"""

from __future__ import annotations

from tenantflow.engine.sdk import NodeType

from .collections import DICT_OPS, LIST_OPS
from .core import node_type_for
from .logic import LOGIC_OPS, MATH_OPS
from .text import CONVERT_OPS, STRING_OPS
from .vars import VAR_OPS

OPERATIONS = (*STRING_OPS, *MATH_OPS, *LOGIC_OPS, *LIST_OPS, *DICT_OPS, *CONVERT_OPS, *VAR_OPS)

NODE_TYPES: list[type[NodeType]] = [node_type_for(op) for op in OPERATIONS]
