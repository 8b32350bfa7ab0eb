"""A scripted Anthropic Messages API for tests: scenarios, the server, and its pytest fixture."""
