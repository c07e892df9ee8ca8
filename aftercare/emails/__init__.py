"""The emails Aftercare sends: their kinds, what each says, and how one is composed."""
