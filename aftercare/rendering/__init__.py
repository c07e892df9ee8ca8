"""Templates to email parts: the sandbox, the pre-inlined loader, locale formatting, MIME."""
