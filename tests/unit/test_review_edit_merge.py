"""A reviewer's edit is merged into the draft in one place, `agent.review.check_decision`: the review node,
the API and the page's live check (`agent.review_check.check_edit`) all call it, so the live check can
never show a verdict for an edit the review would build differently or refuse. (The live check once had
its own `edited_draft` twin.) tests/integration/test_review_pages.py checks the refusals match."""

from __future__ import annotations

import ast

from tests.unit.test_layering import REPO, product_files


def _merges_edits(node: ast.AST) -> bool:
    """`OfferDraft.model_validate({**a, **b})` / `OfferDraft(**{**a, **b})`: a draft built from two unpacked maps."""
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    target = func.value if isinstance(func, ast.Attribute) and func.attr == "model_validate" else func
    if not (isinstance(target, ast.Name) and target.id == "OfferDraft"):
        return False
    maps = [a for a in node.args if isinstance(a, ast.Dict)] + [k.value for k in node.keywords if k.arg is None]
    return any(isinstance(m, ast.Dict) and sum(key is None for key in m.keys) >= 2 for m in maps)


def test_edits_are_merged_in_check_decision_only() -> None:
    found = set()
    for module, path in product_files(REPO).items():
        tree = ast.parse(path.read_text())
        for fn in ast.walk(tree):
            if isinstance(fn, ast.FunctionDef) and any(_merges_edits(n) for n in ast.walk(fn)):
                found.add((module, fn.name))
    assert found == {("agent.review", "check_decision")}


def test_the_live_check_calls_the_reviews_rule() -> None:
    tree = ast.parse((REPO / "agent" / "review_check.py").read_text())
    check_edit = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "check_edit")
    called = {n.func.id for n in ast.walk(check_edit) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    assert "check_decision" in called
    imported = {(n.module, a.name) for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
    assert ("agent.review", "check_decision") in imported
