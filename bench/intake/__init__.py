"""Webhook intake benchmark: fixwright against Probot, @octokit/webhooks and a bare Starlette receiver."""
