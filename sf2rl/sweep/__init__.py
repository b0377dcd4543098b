"""Sweeps: YAML schema, Tune search space, the pool-owning trainable, tracking and reporting."""
