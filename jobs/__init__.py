"""taskpt jobs: one entry point per stage (`python -m jobs.<stage> CONFIG.yaml`), the whole
pipeline (`python -m jobs.run CONFIG.yaml`) and the `taskpt` command. Nothing imports jobs."""
