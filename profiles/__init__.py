"""Customer profiles from POS visits.

- `bgnbd`: BG/NBD repeat-visit model (fit, p_alive, expected visits) and its documented priors.
- `spend`: Gamma-Gamma spend per visit and CLV.
- `model`: `MerchantModel`, the per-merchant parameters the features are scored with.
- `features`: `Visit`/`VisitLine` input types, `ProfileFeatures`, batch and per-transaction paths.
- `document`: pseudonymized profile and purchase texts for embedding and for the model.
- `fit`: loading visits from the database and fitting a merchant's model.
- `simulate`: BG/NBD simulation for tests and benchmarks.
"""
