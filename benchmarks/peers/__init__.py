"""Peers for benchmark B3 (SetFit, a plain Hugging Face Trainer)."""
