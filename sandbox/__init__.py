"""Running Claude Code in a hardened container whose only way out is the model relay."""
