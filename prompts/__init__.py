"""Versioned prompt templates: plain text files next to this module, loaded by name.

Every prompt carries a version `name@<first 8 hex of sha256(file bytes)>` so each draft records the
exact wording that produced it; editing a template changes its version without any bookkeeping.

Template syntax is `string.Template` (`$field` / `${field}`): it leaves `{first_name}` and
`{promo_code}` untouched, which are the placeholders the sending tools fill in at send time, and a
missing field raises instead of silently printing a hole. Lines starting with `##` are comments
for the people editing the file and are stripped (they still count towards the version). A line
holding only `---` separates variants of copy templates.
"""

from __future__ import annotations

import hashlib
import re
import string
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

# One fence for untrusted text everywhere (a light module: no spaCy); re-exported for prompt code.
from guardrails.untrusted import fence_untrusted as fence_untrusted

PROMPTS_DIR = Path(__file__).resolve().parent
_NAME_RE = re.compile(r"^[a-z0-9_]+$")
_VARIANT_SEPARATOR = "---"


class PromptNotFoundError(LookupError):
    """No template file of that name exists in prompts/."""


@dataclass(frozen=True)
class Prompt:
    """One template file: its name, its text without `##` comments, and its content version."""

    name: str
    text: str
    version: str

    def variants(self) -> list[str]:
        """The `---`-separated variants of the template, each stripped; at least one."""
        chunks: list[list[str]] = [[]]
        for line in self.text.splitlines():
            if line.strip() == _VARIANT_SEPARATOR:
                chunks.append([])
            else:
                chunks[-1].append(line)
        variants = ["\n".join(chunk).strip() for chunk in chunks]
        return [variant for variant in variants if variant]

    def render(self, **values: object) -> str:
        """The whole text with `$fields` substituted; raises KeyError on a missing field."""
        return render_template(self.text, **values)


def render_template(template: str, **values: object) -> str:
    """Substitute `$fields` in one template (or variant); a missing field raises KeyError."""
    return string.Template(template).substitute({key: str(value) for key, value in values.items()})


@lru_cache(maxsize=128)
def load_prompt(name: str) -> Prompt:
    """Load `prompts/<name>.txt`. Names are plain identifiers so no path can escape the folder."""
    if not _NAME_RE.match(name):
        raise PromptNotFoundError(f"invalid prompt name {name!r}: use lower-case letters, digits, _")
    path = PROMPTS_DIR / f"{name}.txt"
    if not path.is_file():
        raise PromptNotFoundError(f"no prompt template {path.name} in {PROMPTS_DIR}")
    raw = path.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()[:8]
    lines = [line for line in raw.decode("utf-8").splitlines() if not line.startswith("##")]
    return Prompt(name=name, text="\n".join(lines).strip() + "\n", version=f"{name}@{digest}")
