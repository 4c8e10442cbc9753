"""Readers of released dataset layouts (CREMA-D, Kinetics-Sounds, VGGSound, AVE, MUSIC-AVQA)."""
