"""AV-Scenes: MUSIC-AVQA-like scenes, their media, questions and the modality probe."""
