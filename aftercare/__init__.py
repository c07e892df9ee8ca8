"""Aftercare: order events in, transactional emails out that answer the next question."""
