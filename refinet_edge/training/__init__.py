"""Training the stages: hypes configs, data, loops, checkpoints."""
