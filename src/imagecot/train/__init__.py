"""Training loops with a step budget, seeded data, and resumable safetensors checkpoints."""
