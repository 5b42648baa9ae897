"""Proactive outreach: next-visit, win-back, birthday and tier campaigns with a holdout.

A campaign is planned and approved (`service`), its audience is eligibility-checked and split
deterministically (`audience`, `eligibility`, `holdout`), and each treatment guest's message is one decision
of the offer graph with a campaign trigger (`decision`: the same retrieval, drafter, guardrails, review and
execute as a sale, exactly once per campaign and guest), run by `run.run_due`. What a marketer asks for is
validated in `spec`; what the decision is about travels as a `brief.CampaignBrief`.
"""
