"""Segment search eval: labelled queries, BM25 baseline, precision@10 runner."""
