"""Prometheus metrics. Each app has its own registry, so tests can build many
apps; `GET /metrics` exposes it (to loopback, or to the configured token)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram


class Metrics:
    # Long because it is the list of every metric the app exports, one declaration after another.
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.messages = Counter(
            "chatbot_messages_total", "Messages stored, by sender type", ["brand", "sender"], registry=self.registry
        )
        self.replies = Counter(
            "chatbot_bot_replies_total",
            "Bot replies, by intent (none = fallback)",
            ["brand", "intent"],
            registry=self.registry,
        )
        self.handoffs = Counter(
            "chatbot_handoffs_total", "Handoff requests, by outcome", ["brand", "outcome"], registry=self.registry
        )
        self.reply_seconds = Histogram(
            "chatbot_bot_reply_seconds",
            "From a customer message to the stored bot reply",
            ["brand"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
        )
        # Hardening (docs/security.md): every refused input is counted here, whether or not its log line was
        # written (those lines are rate-limited).
        self.rejected = Counter(
            "chatbot_rejected_inputs_total",
            "Inputs refused, by layer and reason",
            ["layer", "reason"],
            registry=self.registry,
        )
        self.rejection_logs_suppressed = Counter(
            "chatbot_rejection_log_lines_suppressed_total",
            "Rejection log lines not written because of the log rate limit",
            registry=self.registry,
        )
        self.abuse_disconnects = Counter(
            "chatbot_abuse_disconnects_total",
            "Sockets disconnected for sending too many refused events or frames",
            ["layer"],
            registry=self.registry,
        )
        self.login_throttled = Counter(
            "chatbot_login_throttled_total",
            "Login attempts answered 429 by the failed-login brake, by scope",
            ["scope"],
            registry=self.registry,
        )
