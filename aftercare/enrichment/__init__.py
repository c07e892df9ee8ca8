"""The enrichments: facts added to an email beyond what the store sent (tracking links, delivery promises, customs, carrier delays)."""
