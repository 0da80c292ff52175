"""Runtime plumbing shared by every Leadflow service."""
