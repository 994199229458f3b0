"""The offline deploy rehearsal's parts; the orchestration and CLI are scripts/rehearse.py."""
