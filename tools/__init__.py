"""Side effects the agent may cause, called only by the execute node after an approved verdict.

- `tools.idempotency`: `idempotency_key(decision_id, action)` and the `retrying(...)` policy;
- `tools.errors`: RetryableError / PermanentError / ToolUnavailable (queue and retry later);
- `tools.audit`: `record_audit(...)`, shared with the agent graph;
- `tools.pos`: the PosAdapter protocol, the sandbox POS, the Square adapter, `AuditedPos`;
- `tools.marketing`: the outbox (`schedule_message`, `deliver_due_messages`) and providers;
- `tools.factory`: adapters and providers built from Settings.
"""
