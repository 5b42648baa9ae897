"""POST /customers/{customer_id}/ask: an associate's question about the guest in front of them.

`customer_id` is the POS id the till knows (pseudonyms are not accepted). Unknown guest -> 404; a
question over 1,000 characters -> 422; more than `ask_rate_limit_per_minute` questions per API key
per minute -> 429 with Retry-After. The answer runs in a worker thread (it reads the database and
may call the model); the route only validates, limits and maps errors.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.concurrency import run_in_threadpool

from agent.ask.schemas import AskAnswer
from agent.ask.service import MAX_QUESTION_CHARS, UnknownGuestError
from api.deps import AskAgentDep, AssociateOrManager, SettingsDep
from api.rate_limit import enforce

router = APIRouter(prefix="/customers", tags=["ask"])


class AskIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS, description="The associate's question.")

    @field_validator("question")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("question must not be blank")
        return value


@router.post("/{customer_id}/ask", response_model=AskAnswer)
async def ask_about_customer(
    customer_id: str,
    body: AskIn,
    key: AssociateOrManager,
    settings: SettingsDep,
    ask_agent: AskAgentDep,
    request: Request,
    response: Response,
) -> AskAnswer:
    """Answer with citations of the facts the answer rests on; `abstained` when it cannot answer."""
    enforce(request, bucket="ask", key_id=key.id, limit=settings.ask_rate_limit_per_minute)
    try:
        result = await run_in_threadpool(ask_agent.ask, customer_id, body.question, actor=f"{key.role}:{key.id}")
    except UnknownGuestError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no customer with POS id {customer_id!r}") from None
    response.headers["X-Ask-Id"] = result.ask_id
    return result.answer
