"""Offer decision eval: cases, evaluators, suite runner."""
