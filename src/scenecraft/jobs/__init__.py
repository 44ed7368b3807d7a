"""Jobs: the durable queue (queue.py), workers and batching (worker.py), the engine adapter
(engine.py), the event bus (events.py), completion webhooks (webhooks.py)."""
