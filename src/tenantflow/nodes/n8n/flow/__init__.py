"""Flow nodes: If, Filter and Switch (and their conditions), Merge, Loop Over Items, Execute Workflow."""
