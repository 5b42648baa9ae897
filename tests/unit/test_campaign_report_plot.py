"""The report plot (`/campaigns/{id}/report.png`): a PNG of the expected size for a running or finished
campaign and for one not started yet, drawn without matplotlib warnings (empty axes, singular limits)."""

from __future__ import annotations

import io
import warnings
from typing import Any

import pytest
from matplotlib.image import imread

from profiles.campaign_report import render_png
from profiles.uplift import difference


def _report(days: int) -> dict[str, Any]:
    visits = {"treatment": (42, 60), "holdout": (18, 30)}
    return {
        "name": "Next visit", "kind": "next_visit",
        "window": {"start": "2026-11-01T15:00:00+00:00", "days": 14, "as_of": "2026-11-08T15:00:00+00:00",
                   "complete": days >= 14},
        "groups": {arm: {"n": n} for arm, (_k, n) in visits.items()},
        "uplift": {"visit_rate": difference(42, 60, 18, 30).as_dict(),
                   "redemption_rate": difference(27, 60, 0, 30).as_dict()},
        "power": {"power": 0.07, "min_detectable_effect": 0.05, "underpowered": True},
        "series": {"day": list(range(1, days + 1)),
                   "treatment": {"visit_rate": [0.05 * d for d in range(1, days + 1)],
                                 "redemption_rate": [0.03 * d for d in range(1, days + 1)]},
                   "holdout": {"visit_rate": [0.04 * d for d in range(1, days + 1)],
                               "redemption_rate": [0.0] * days}},
    }


@pytest.mark.parametrize("report", [
    _report(14),
    _report(7),
    {"name": "Win-back", "kind": "win_back", "window": None, "groups": None, "note": "the campaign has not started"},
], ids=["complete", "open", "not-started"])
def test_the_plot_is_a_png_of_two_panels_without_warnings(report: dict[str, Any]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        png = render_png(report)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    height, width, _channels = imread(io.BytesIO(png), format="png").shape
    assert (width, height) == (1000, 460)
