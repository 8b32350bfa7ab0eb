"""The notice on a thread whose job was interrupted too often to be retried."""
