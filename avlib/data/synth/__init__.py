"""What the embedded generators share: speech synthesis, voices, signal processing."""
