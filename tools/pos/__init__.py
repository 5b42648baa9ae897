"""POS adapters. `tools.pos.square` is imported on demand so the sandbox path never loads the SDK."""

from tools.pos.audited import AuditedPos
from tools.pos.base import (
    ACTION_ACCRUE_POINTS,
    ACTION_ATTACH_PROMO,
    ACTION_CREATE_PROMO,
    ACTION_REDEEM_POINTS,
    AttachResult,
    PointsResult,
    PosAdapter,
    PosCustomer,
    PosOrder,
    PosOrderLine,
    PromoCodeResult,
    promo_code_for,
)
from tools.pos.sandbox import SandboxPos

__all__ = [
    "ACTION_ACCRUE_POINTS",
    "ACTION_ATTACH_PROMO",
    "ACTION_CREATE_PROMO",
    "ACTION_REDEEM_POINTS",
    "AttachResult",
    "AuditedPos",
    "PointsResult",
    "PosAdapter",
    "PosCustomer",
    "PosOrder",
    "PosOrderLine",
    "PromoCodeResult",
    "SandboxPos",
    "promo_code_for",
]
