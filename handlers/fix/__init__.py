"""The fix job: a labelled issue (or `/fix`) becomes a draft pull request."""
