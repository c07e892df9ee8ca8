"""The fault-injection suite: duplicates, crashes at chosen points, hostile input."""
