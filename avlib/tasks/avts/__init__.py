"""Self-supervised audio-visual temporal synchronization (AVTS) and its downstream probe."""
