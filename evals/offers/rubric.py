"""An optional model-graded rubric for delivered copy (`python -m evals --copy-rubric`).

Only with a real model configured (LLM_BASE_URL, LLM_MODEL, LLM_API_KEY): the model reads each message
a guest received, with the structured offer it must match, and grades clarity, tone and accuracy from
1 to 5. The grades are printed and written to the report as information; they never gate a run, since
a model's taste is not a safety property and CI has no model.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from statistics import fmean
from typing import Any

from core.schemas import OfferDraft

CRITERIA = ("clarity", "tone", "accuracy")
RUBRIC = """You grade marketing messages a restaurant sent to a loyalty guest.
Grade each criterion from 1 (poor) to 5 (excellent):
- clarity: a guest understands at once what they get, on what, until when, and how to use the code;
- tone: warm and brief, like a good neighbourhood restaurant; no pressure, no spam;
- accuracy: every number and claim matches the structured offer below, nothing more is promised.
Answer with one JSON object only: {"clarity": n, "tone": n, "accuracy": n, "comment": "one sentence"}."""
_JSON_RE = re.compile(r"\{.*\}", re.DOTALL)


def model_configured() -> bool:
    return bool(os.environ.get("LLM_BASE_URL"))


@dataclass
class RubricGrades:
    """Grades per graded message, and the messages the model failed to grade (never a gate)."""

    grades: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        means = {c: round(fmean(g[c] for g in self.grades), 2) for c in CRITERIA} if self.grades else {}
        return {"graded": len(self.grades), "errors": len(self.errors), "means": means,
                "lowest": sorted(self.grades, key=lambda g: sum(g[c] for c in CRITERIA))[:5]}


class CopyRubric:
    """Grades delivered messages with the configured OpenAI-compatible model."""

    def __init__(self) -> None:
        import openai

        self._client = openai.OpenAI(base_url=os.environ["LLM_BASE_URL"],
                                     api_key=os.environ.get("LLM_API_KEY") or "not-needed", timeout=60)
        self._model = os.environ.get("LLM_MODEL", "gpt-4o-mini")
        self.result = RubricGrades()

    def grade(self, case_id: str, offer: OfferDraft, message: str) -> None:
        structured = offer.model_dump(include={"offer_type", "sku", "category", "discount_pct", "discount_cents",
                                               "bonus_points", "expires_in_days", "channel"})
        try:
            reply = self._client.chat.completions.create(
                model=self._model, temperature=0,
                messages=[{"role": "system", "content": RUBRIC},
                          {"role": "user", "content": f"Structured offer: {json.dumps(structured)}\n"
                                                      f"Message received:\n{message}"}],
            )
            match = _JSON_RE.search(reply.choices[0].message.content or "")
            data = json.loads(match.group(0)) if match else {}
            scores = {c: int(data[c]) for c in CRITERIA}
            if not all(1 <= v <= 5 for v in scores.values()):
                raise ValueError(f"grades out of range: {scores}")
        except Exception as exc:  # a grading failure is reported, never fatal and never a gate
            self.result.errors.append(f"{case_id}: {type(exc).__name__}: {str(exc)[:120]}")
            return
        self.result.grades.append({"case": case_id, **scores, "comment": str(data.get("comment", ""))[:200]})
