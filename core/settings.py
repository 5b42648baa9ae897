"""One settings object for the whole service (pydantic-settings; `.env` is read too)."""

from __future__ import annotations

import os
import secrets
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.events import SaleChecks


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    data_dir: Path = Field(default=Path("./data"), description="Embedded default: SQLite file + Qdrant data.")
    database_url: str = Field(default="", description="Any SQLAlchemy URL; empty = SQLite in DATA_DIR.")
    qdrant_url: str | None = Field(default=None, description="Qdrant server URL; unset = embedded engine.")
    vector_service: bool = Field(default=False, description="Reach the embedded engine (and the local embedder) "
                                 "through the worker process that owns it (vectorstore.service); serve and "
                                 "worker set it for their other processes.")

    llm_provider: Literal["offline", "openai"] = "offline"
    llm_base_url: str | None = None
    llm_model: str = "gpt-4o-mini"
    llm_api_key: str | None = None
    llm_timeout_s: float = 10.0
    decision_budget_s: float = Field(default=1.5, description="Checkout budget for one decision.")
    ask_budget_s: float = Field(default=2.0, gt=0, description="Budget of the model's answer to an associate.")
    ask_rate_limit_per_minute: int = Field(
        default=30, ge=0, description="Questions per API key per minute on POST /customers/{id}/ask (0 = no limit)."
    )

    embedding_provider: Literal["local", "openai"] = "local"
    embedding_model: str = "all-MiniLM-L6-v2"
    embedding_threads: int | None = Field(
        default=None, ge=1, description="torch intra-op threads of the local embedder; unset = the usable cores "
        "(at most 4). The worker's indexer embeds beside the decisions: 1 leaves them a core on a small machine.")

    pos_webhook_secret: str | None = None
    square_webhook_signature_key: str | None = None
    square_webhook_url: str | None = None
    webhook_tolerance_s: int = 300
    webhook_max_body_bytes: int = 256 * 1024
    api_max_body_bytes: int = Field(default=64 * 1024, description="Body limit of every other route (api.limits).")
    sale_checks: SaleChecks = Field(default_factory=SaleChecks, description="Total and clock checks on a sale; "
                                    'JSON in the environment, e.g. SALE_CHECKS=\'{"max_future_s": 600}\'.')

    pseudonym_secret: str | None = None
    default_merchant_id: str = Field(default="m_sandbox", description="Merchant for providers without one.")
    api_keys_bootstrap: bool = True

    policy_file: Path | None = None
    pos_provider: Literal["sandbox", "square"] = "sandbox"
    square_access_token: str | None = None
    square_base_url: str | None = None
    square_environment: Literal["sandbox", "production"] = Field(
        default="sandbox", description="Square's API host when SQUARE_BASE_URL is unset."
    )
    square_location_id: str | None = None
    marketing_provider: Literal["sandbox", "http"] = "sandbox"
    marketing_base_url: str | None = None
    marketing_api_key: str | None = None

    index_on_start: bool = Field(default=True, description="serve: build vectors in the background if empty.")
    worker_poll_interval_s: float = 0.2
    worker_max_attempts: int = 5
    worker_backoff_base_s: float = 2.0
    worker_lease_s: float = 120.0
    campaign_poll_interval_s: float = Field(
        default=60.0, gt=0, description="How often the worker starts due campaigns (and the policy's automatic ones)."
    )
    review_lease_s: float = Field(
        default=300.0, gt=0, description="How long a reviewer holds an offer in `reviewing` before it is requeued."
    )

    ui_session_secret: str | None = Field(default=None, description="Signs /ui session cookies; unset = generated.")
    ui_session_ttl_s: int = Field(default=8 * 3600, ge=60, description="A /ui login lasts this long.")
    cors_origins: list[str] = Field(default_factory=list, description="Origins allowed to call the API from a "
                                    "browser (e.g. a self-hosted Agent Inbox); JSON list in the environment.")

    @model_validator(mode="after")
    def _defaults_from_data_dir(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir / 'loyalty.db'}"
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def resolved_pos_webhook_secret(self) -> str:
        """The configured secret, else the one in DATA_DIR (generated there on first use)."""
        return self.pos_webhook_secret or _secret_in_data_dir(self.data_dir, POS_WEBHOOK_SECRET_FILE, "whsec_")

    def new_pos_webhook_secret(self) -> str | None:
        """Generate the POS webhook secret into DATA_DIR if there is none; return it only if this call made it.

        None when it is configured (environment) or already on disk: a secret is shown once, when it is made.
        """
        if self.pos_webhook_secret:
            return None
        secret, created = _secret_file(self.data_dir, POS_WEBHOOK_SECRET_FILE, "whsec_")
        return secret if created else None

    def resolved_pseudonym_secret(self) -> str:
        return self.pseudonym_secret or _secret_in_data_dir(self.data_dir, "pseudonym_secret", "ps_")

    def resolved_vector_service_key(self) -> str:
        """Authenticates processes of this DATA_DIR to the vector service (vectorstore.service)."""
        return _secret_in_data_dir(self.data_dir, "vector_service_key", "vs_")

    def resolved_ui_session_secret(self) -> str:
        return self.ui_session_secret or _secret_in_data_dir(self.data_dir, "ui_session_secret", "uis_")


POS_WEBHOOK_SECRET_FILE = "pos_webhook_secret"


def _secret_in_data_dir(data_dir: Path, name: str, prefix: str) -> str:
    return _secret_file(data_dir, name, prefix)[0]


def _secret_file(data_dir: Path, name: str, prefix: str) -> tuple[str, bool]:
    """The secret stored in `data_dir/name`, generated if absent; and whether this call generated it."""
    path = data_dir / name
    if path.exists():
        return path.read_text().strip(), False
    data_dir.mkdir(parents=True, exist_ok=True)
    secret = prefix + secrets.token_hex(24)
    # Written whole under a private name, then linked into place: link() fails if the name exists,
    # so two processes starting together agree on one secret, and no reader ever sees a half-written file.
    fd, tmp = tempfile.mkstemp(dir=data_dir, prefix=f".{name}.")
    try:
        with os.fdopen(fd, "w") as fh:  # mkstemp: mode 0600
            fh.write(secret)
        os.link(tmp, path)
    except FileExistsError:
        return path.read_text().strip(), False
    finally:
        os.unlink(tmp)
    return secret, True


@lru_cache
def get_settings() -> Settings:
    return Settings()
