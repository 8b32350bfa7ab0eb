"""`/help`: the commands, answered in the thread."""
