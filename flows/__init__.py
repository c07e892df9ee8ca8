"""Prefect flows: thin orchestration over the ``aftercare`` package."""
