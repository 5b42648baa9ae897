"""Customer profiles from POS visits.

- `bgnbd`: BG/NBD repeat-visit model (fit, p_alive, expected visits) and its documented priors.
- `spend`: Gamma-Gamma spend per visit and CLV.
- `merchant_model`: `MerchantModel`, the per-merchant parameters the features are scored with.
- `visits`: `Visit`/`VisitLine` input types and what a visit is (a customer-day, local day parts).
- `feature_families`: the model-free features, one family per function (value, rhythm, timing, taste,
  lifecycle).
- `features`: `ProfileFeatures`, the model step, batch and per-transaction paths.
- `document`: pseudonymized profile and purchase texts for embedding and for the model.
- `fit`: loading visits from the database and fitting a merchant's model.
- `simulate`: BG/NBD simulation for tests and benchmarks.
"""
