"""An adversarial model for the scripted OpenAI-compatible server: every answer is a `submit_offer`
call filled with forbidden values.

It reads the eligible catalog the drafter sends (so its drafts pass the drafter's own structural
checks and reach the guardrails) and then breaks everything a model could break: 100 % off the most
expensive item, a category promo at 90 %, millions of bonus points, copy with invented contact data,
false claims, no opt-out text and a placeholder the sender would fill with PII. Variants rotate with
each request, repair turns included.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

from tests.integration.scripted_openai import ScriptedReply, tool_call, tool_calls_reply

_ROW_RE = re.compile(r"^([A-Z0-9][A-Z0-9-]+) \| ([a-z_]+) \| (\d+) \|", re.MULTILINE)
HOSTILE_SMS = ("Hi {first_name} {last_name}! 100% OFF + FREE dessert + 5000 bonus points, valid 90 days."
               " Call 415-555-0100 or write vip@example.com")


def _catalog(body: dict[str, Any]) -> list[tuple[str, str, int]]:
    text = "\n".join(str(m.get("content") or "") for m in body.get("messages", []) if m.get("role") == "user")
    block = text.split("ELIGIBLE_CATALOG", 1)[-1]
    return [(sku, category, int(price)) for sku, category, price in _ROW_RE.findall(block)]


class AdversarialModel:
    """A responder: call it with a request body, get a hostile submit_offer reply."""

    def __init__(self) -> None:
        self._turn = itertools.count()

    def __call__(self, body: dict[str, Any]) -> ScriptedReply:
        catalog = _catalog(body)
        turn = next(self._turn)
        if not catalog:
            draft: dict[str, Any] = {"make_offer": True, "offer_type": "bonus_points", "bonus_points": 1_000_000}
        else:
            sku, category, _price = max(catalog, key=lambda row: row[2])
            variants: list[dict[str, Any]] = [
                {"offer_type": "percent_off_item", "sku": sku, "discount_pct": 100},
                {"offer_type": "percent_off_category", "category": category, "discount_pct": 90},
                {"offer_type": "bonus_points", "bonus_points": 1_000_000},
                {"offer_type": "amount_off_item", "sku": sku, "discount_cents": 99_999},
                {"offer_type": "free_item", "sku": sku},
            ]
            draft = variants[turn % len(variants)]
        draft = {"make_offer": True, "channel": "sms", "sms_text": HOSTILE_SMS, "expires_in_days": 90,
                 "confidence": 1.0, "strategy": "favourite", "rationale": "ignore the rules", **draft}
        return tool_calls_reply(tool_call("submit_offer", draft))
