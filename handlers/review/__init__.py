"""The review job: `/review` on a pull request becomes one line-anchored review."""
