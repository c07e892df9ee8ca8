"""For the people who edit templates: the check, the samples, the preview."""
