"""The webhook receiver: verify, store, acknowledge."""
