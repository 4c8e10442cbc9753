"""Audio-visual event localization (OGM-GE Table 4): AVGA-lite and PSP-lite per segment."""
