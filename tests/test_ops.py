"""The op table is complete: every kind and every IR layer op declares every facet, the registries
agree with each other, with the IR and with TFLite's schema, and no module outside ``ops/``
decides by an op's name."""

import ast
from pathlib import Path

import tflite

from tinyml_cli.arch.graph import OPS as IR_OPS
from tinyml_cli.ops import BY_BUILTIN, KINDS, LAYER_BY_BUILTIN, LAYER_OPS, LayerOp, OpKind, resolver_method

PACKAGE = Path(__file__).resolve().parents[1] / "tinyml_cli"
FACETS = ("module", "export_weights", "forward", "options", "constants", "read")


def test_every_kind_covers_real_builtins_once():
    covered = [b for kind in KINDS for b in kind.builtins]
    assert len(covered) == len(set(covered)) == len(BY_BUILTIN)
    for kind in KINDS:
        assert isinstance(kind, OpKind) and kind.builtins and callable(kind.costs)
        for builtin in kind.builtins:
            assert hasattr(tflite.BuiltinOperator, builtin), builtin
            assert resolver_method(builtin).startswith("Add") and "_" not in resolver_method(builtin)


def test_every_ir_op_is_a_layer_op_with_every_facet():
    assert set(LAYER_OPS) == set(IR_OPS)
    assert set(LAYER_BY_BUILTIN) == {op.builtin for op in LAYER_OPS.values()}
    for name, op in LAYER_OPS.items():
        assert isinstance(op, LayerOp) and op.ir == name
        assert op.builtin in op.kind.builtins and op.kind in KINDS
        assert op.output_quant in ("calibrated", "input", "softmax")
        assert op.version >= 1 and op.activations >= 1
        for facet in FACETS:
            assert callable(getattr(op, facet)), f"{name}.{facet}"
        assert op.per_channel <= (op.weight_axis is not None)


def _op_name_comparisons(tree: ast.AST) -> list[int]:
    """Lines comparing an ``.op`` attribute with a string, or testing one for membership."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            reads_op = any(isinstance(s, ast.Attribute) and s.attr == "op" for s in sides)
            names_op = any(isinstance(s, (ast.Constant, ast.Tuple, ast.List, ast.Set)) for s in sides)
            if reads_op and names_op:
                lines.append(node.lineno)
    return lines


def test_no_module_outside_the_op_table_decides_by_op_name():
    offenders = {}
    for path in PACKAGE.rglob("*.py"):
        if path.parent.name == "ops":
            continue
        lines = _op_name_comparisons(ast.parse(path.read_text()))
        if lines:
            offenders[str(path.relative_to(PACKAGE))] = lines
    assert not offenders
    assert _op_name_comparisons(ast.parse("if layer.op == 'conv2d': pass"))    # the check itself works
