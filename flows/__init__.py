"""Prefect flows: thin orchestration over the ``aftercare`` package, and the ``aftercare``
command that runs them (``flows.cli``)."""
