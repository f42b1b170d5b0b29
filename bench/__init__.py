"""`make bench`: how exact, how fast and how it grows, measured on the local stack."""
