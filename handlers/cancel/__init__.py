"""`/cancel`, or the label removed: the target's jobs stop."""
