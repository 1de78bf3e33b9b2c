"""`allocator fit`: response curves from the planner's own ad-platform exports."""
