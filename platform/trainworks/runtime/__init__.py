"""Where the loop runs: in-process, on Ray Train workers; and the job orchestration around it."""
