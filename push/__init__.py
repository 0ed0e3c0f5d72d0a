"""Push notifications: "the policy finds the firm" — once, reliably, without fatigue.

Detection (``push.detect``) turns store changes into verdict changes with the pure diff
``matcher.changes.newly_matched`` and writes them, with the new verdict snapshots, into
a compact fan-out outbox in one transaction (``push.outbox``, ``push.snapshots``,
``push.fanout``: columnar blobs per policy and bucket of firms, not rows per firm). The
dispatcher (``push.dispatch``) expands that outbox into per-firm notifications, claims due
deliveries, sends them through the firm's channels (``push.channels``),
retries with backoff and dead-letters what keeps failing. Firms choose channels, a
digest mode, muted topics and a daily cap (``push.subscriptions``); every message says
why (``push.messages``).
"""
