"""The first-response bench's floor is its textbook handler on this project's stack: the same code
but for the imports and the client (bench/children/first_response/, read as text: the tests never
import the bench)."""

from __future__ import annotations

import ast

from local.template import ROOT

CHILDREN = ROOT / "bench" / "children" / "first_response"


def _code(name: str) -> list[str]:
    """The module's statements but its docstring and imports, as source."""
    body = ast.parse((CHILDREN / name).read_text()).body
    return [
        ast.unparse(statement)
        for statement in body[1:]  # the docstring
        if not isinstance(statement, ast.Import | ast.ImportFrom)
    ]


def test_the_floor_runs_the_textbooks_code_with_the_layers_client() -> None:
    textbook, floor = _code("textbook.py"), _code("floor.py")

    assert len(textbook) == len(floor)
    assert [(t, f) for t, f in zip(textbook, floor, strict=True) if t != f] == [
        ("dynamodb = boto3.client('dynamodb')", "dynamodb = aws.LazyClient('dynamodb')")
    ]
