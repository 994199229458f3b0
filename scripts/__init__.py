"""Project tooling: Terraform runner, rehearsal, benchmarks (not part of the synthesized app)."""
