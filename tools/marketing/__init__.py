"""Marketing side effects: a database outbox and the providers that deliver it."""

from tools.marketing.outbox import ACTION_SCHEDULE_MESSAGE, deliver_due_messages, schedule_message
from tools.marketing.providers import HttpMessagingProvider, MessagingProvider, SandboxMessagingProvider

__all__ = [
    "ACTION_SCHEDULE_MESSAGE",
    "HttpMessagingProvider",
    "MessagingProvider",
    "SandboxMessagingProvider",
    "deliver_due_messages",
    "schedule_message",
]
