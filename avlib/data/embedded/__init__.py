"""Generators that write the embedded datasets from a seed, and their readers."""
