"""What the job kinds share: commands, permissions, progress, check runs, reactions, untrusted text."""
