"""Campaign evals: worlds of a few guests run through the real campaign path (planning, the split, the
send-time re-check, drafting, guardrails, execute, review), judged on who was contacted and how."""
