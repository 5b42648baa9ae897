"""A campaign's report: what its treatment arm did against its holdout within the window, and whether the
difference is real.

Intention to treat: every guest assigned to the treatment arm counts (also those the rules blocked or who got
no offer at send), every holdout guest counts; the global control group is not part of this comparison. The
window opens when the campaign started (the same moment for both arms: the holdout's "would have sent") and
lasts `window_days`, cut at `as_of` while it is still open.

Per arm: n; guests who redeemed the campaign's code in the window (the holdout has none to redeem) and the
redemption rate; guests who visited at least once and the visit rate; visits; revenue per guest. Uplift:
absolute difference with a 95 % Newcombe interval and relative lift, for the visit rate and the redemption
rate (profiles.uplift); the power for the policy's minimum detectable effect and the underpowered flag; the
sample-ratio-mismatch check; day-by-day cumulative rates for the plot (`render_png`).
"""

from __future__ import annotations

import io
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from db import campaigns as lifecycle
from db.offers import SENT
from db.tables import Campaign, CampaignRecipient, Offer, PosTransaction, PromoCode
from profiles.uplift import TARGET_POWER, detectable_effect, difference, power_for, sample_ratio_mismatch

ARMS = (lifecycle.TREATMENT, lifecycle.HOLDOUT)
_CHUNK = 500


def _day(at: datetime, start: datetime) -> int:
    return int((at - start).total_seconds() // 86400)


def campaign_report(session: Session, campaign: Campaign, *, as_of: datetime, min_detectable_effect: float
                    ) -> dict[str, Any]:
    """The report as JSON-able data (see the module docstring)."""
    base: dict[str, Any] = {"campaign_id": campaign.id, "name": campaign.name, "kind": campaign.kind,
                            "status": campaign.status, "holdout_pct": campaign.holdout_pct}
    if campaign.started_at is None:
        return {**base, "window": None, "groups": None, "note": "the campaign has not started yet"}
    start = campaign.started_at
    end = start + timedelta(days=campaign.window_days)
    cut = min(end, max(as_of, start))
    recipients = lifecycle.recipients(session, campaign.id, arms=ARMS)
    arm_of = {r.customer_id: r.arm for r in recipients}
    visit_days, revenue, visits = _visits(session, list(arm_of), start, cut)
    redeemed_day = _redemptions(session, recipients, start, cut)
    sent = _sent(session, [r.offer_id for r in recipients if r.offer_id is not None])
    days = max(1, -(-int((cut - start).total_seconds()) // 86400))
    groups: dict[str, dict[str, Any]] = {}
    series: dict[str, dict[str, list[float]]] = {}
    for arm in ARMS:
        members = [r.customer_id for r in recipients if r.arm == arm]
        n = len(members)
        visitors = [c for c in members if visit_days.get(c)]
        redeemers = [c for c in members if c in redeemed_day]
        total_visits = sum(visits.get(c, 0) for c in members)
        total_revenue = sum(revenue.get(c, 0) for c in members)
        groups[arm] = {
            "n": n,
            "offers_sent": sum(1 for r in recipients if r.arm == arm and r.offer_id in sent),
            "redeemed": len(redeemers),
            "redemption_rate": len(redeemers) / n if n else None,
            "visitors": len(visitors),
            "visit_rate": len(visitors) / n if n else None,
            "visits": total_visits,
            "visits_per_guest": total_visits / n if n else None,
            "revenue_cents": total_revenue,
            "revenue_per_guest_cents": round(total_revenue / n) if n else None,
        }
        first_visit = [min(visit_days[c]) for c in visitors]
        series[arm] = {
            "visit_rate": [sum(1 for d in first_visit if d <= day) / n if n else 0.0 for day in range(days)],
            "redemption_rate": [sum(1 for c in redeemers if redeemed_day[c] <= day) / n if n else 0.0
                                for day in range(days)],
        }
    t, h = groups[lifecycle.TREATMENT], groups[lifecycle.HOLDOUT]
    visit = difference(t["visitors"], t["n"], h["visitors"], h["n"])
    redemption = difference(t["redeemed"], t["n"], h["redeemed"], h["n"])
    baseline = h["visit_rate"] or 0.0
    power = power_for(min_detectable_effect, baseline=baseline, n_t=t["n"], n_h=h["n"])
    return {
        **base,
        "window": {"start": start.isoformat(), "end": end.isoformat(), "days": campaign.window_days,
                   "as_of": cut.isoformat(), "complete": as_of >= end},
        "groups": groups,
        "uplift": {
            "visit_rate": visit.as_dict(),
            "redemption_rate": redemption.as_dict(),
            "revenue_per_guest_cents": (t["revenue_per_guest_cents"] - h["revenue_per_guest_cents"]
                                        if t["n"] and h["n"] else None),
        },
        "power": {
            "metric": "visit_rate",
            "baseline": baseline,
            "min_detectable_effect": min_detectable_effect,
            "power": power,
            "detectable_effect_at_80pct": detectable_effect(baseline=baseline, n_t=t["n"], n_h=h["n"]),
            "underpowered": power is None or power < TARGET_POWER,
        },
        "srm": sample_ratio_mismatch(t["n"], h["n"], holdout_pct=campaign.holdout_pct).as_dict(),
        "series": {"day": list(range(1, days + 1)), **series},
    }


def _visits(session: Session, customer_ids: list[int], start: datetime, cut: datetime
            ) -> tuple[dict[int, list[int]], dict[int, int], dict[int, int]]:
    """Per guest: the window days they visited on, revenue, and visits (sales) within [start, cut)."""
    days: dict[int, list[int]] = defaultdict(list)
    revenue: dict[int, int] = defaultdict(int)
    count: dict[int, int] = defaultdict(int)
    for offset in range(0, len(customer_ids), _CHUNK):
        rows = session.exec(
            select(PosTransaction.customer_id, PosTransaction.occurred_at, PosTransaction.total_cents).where(
                col(PosTransaction.customer_id).in_(customer_ids[offset: offset + _CHUNK]),
                col(PosTransaction.occurred_at) >= start, col(PosTransaction.occurred_at) < cut,
            )
        ).all()
        for customer_id, occurred_at, total in rows:
            assert customer_id is not None
            days[customer_id].append(_day(occurred_at, start))
            revenue[customer_id] += total
            count[customer_id] += 1
    return days, revenue, count


def _sent(session: Session, offer_ids: list[str]) -> set[str]:
    """The offers among these that reached the guest (or will: message scheduled)."""
    sent: set[str] = set()
    for offset in range(0, len(offer_ids), _CHUNK):
        sent.update(session.exec(select(Offer.id).where(col(Offer.id).in_(offer_ids[offset: offset + _CHUNK]),
                                                        col(Offer.status) == SENT)).all())
    return sent


def _redemptions(session: Session, recipients: list[CampaignRecipient], start: datetime, cut: datetime
                 ) -> dict[int, int]:
    """Guest -> window day on which they redeemed this campaign's code (its offer's promo code)."""
    by_offer = {r.offer_id: r.customer_id for r in recipients if r.offer_id is not None}
    out: dict[int, int] = {}
    offer_ids = sorted(by_offer)
    for offset in range(0, len(offer_ids), _CHUNK):
        for offer_id, redeemed_at in session.exec(
            select(PromoCode.offer_id, PromoCode.redeemed_at).where(
                col(PromoCode.offer_id).in_(offer_ids[offset: offset + _CHUNK]),
                col(PromoCode.redeemed_at) >= start, col(PromoCode.redeemed_at) < cut,
            )
        ).all():
            if offer_id is not None and redeemed_at is not None:
                out[by_offer[offer_id]] = _day(redeemed_at, start)
    return out


def _points(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:+.1f}"


def _uplift_line(report: dict[str, Any], metric: str) -> str:
    """The second line of the metric's panel title, e.g. `uplift +4.1 pts (95% CI -1.0 to +9.3)` (or none)."""
    uplift = (report.get("uplift") or {}).get(metric) or {}
    ci = uplift.get("ci95")
    if not ci or uplift.get("absolute") is None:
        return ""
    return f"\nuplift {_points(uplift['absolute'])} pts (95% CI {_points(ci[0])} to {_points(ci[1])})"


def render_png(report: dict[str, Any]) -> bytes:
    """Cumulative share of guests who visited and who redeemed, by arm, over the window's days: day d's value
    (share by the end of day d) is drawn over day d, from 0 (the start) to the last day of the window so far."""
    from matplotlib.figure import Figure  # no pyplot: no global state, safe in a server thread
    from matplotlib.ticker import MaxNLocator, PercentFormatter

    figure = Figure(figsize=(10, 4.6), dpi=100)
    visits_ax, redeem_ax = figure.subplots(1, 2, sharex=True)
    series = report.get("series") or {}
    days = series.get("day", [])
    edges = [0, *days]  # day d spans [d - 1, d]
    groups = report.get("groups") or {}
    colours = {lifecycle.TREATMENT: "#1f77b4", lifecycle.HOLDOUT: "#7f7f7f"}
    labels = {lifecycle.TREATMENT: "treatment (offer sent)", lifecycle.HOLDOUT: "holdout (nothing sent)"}
    for ax, metric, title in ((visits_ax, "visit_rate", "Guests who came back"),
                              (redeem_ax, "redemption_rate", "Guests who redeemed the campaign's code")):
        for arm in ARMS:
            if arm not in series or not days:
                continue
            values = [100 * v for v in series[arm][metric]]
            ax.step(edges, [*values, values[-1]], where="post", color=colours[arm], linewidth=2,
                    label=f"{labels[arm]}, n={groups.get(arm, {}).get('n', 0)}: {values[-1]:.1f}%")
        ax.set_title(f"{title} (cumulative){_uplift_line(report, metric)}", fontsize=9.5)
        ax.set_xlabel("days since the campaign started")
        ax.set_ylabel("% of the arm's guests")
        ax.yaxis.set_major_formatter(PercentFormatter(decimals=None))  # decimals as the scale needs
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        if days:
            ax.set_xlim(0, max(edges))
            top = max(ax.get_ylim()[1], 1.0)
            ax.set_ylim(-0.03 * top, top)  # a line at 0 % stays visible above the axis
            ax.legend(fontsize=8, loc="best")  # rising curves leave upper left or lower right clear: the emptier
        else:
            ax.set_yticks([])
            ax.text(0.5, 0.5, report.get("note") or "no days in the window yet", transform=ax.transAxes,
                    ha="center", va="center", color="#555555")
    window = report.get("window") or {}
    power = report.get("power") or {}
    figure.suptitle(f"{report.get('name', '')} ({report.get('kind', '')}): treatment vs holdout", fontsize=11)
    if window:
        note = f"window {window['start'][:10]} + {window['days']} days"
        if not window.get("complete"):
            note += f", so far to {window['as_of'][:10]}"
        if power.get("power") is not None:
            note += (f" · power {100 * power['power']:.0f}% for a {100 * power['min_detectable_effect']:.0f}-pt visit "
                     f"uplift{' (underpowered)' if power.get('underpowered') else ''}")
        figure.text(0.5, 0.01, note, ha="center", fontsize=8, color="#555555")
    figure.tight_layout(rect=(0, 0.04, 1, 1))
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
