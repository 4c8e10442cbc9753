"""Audio-visual question answering (MUSIC-AVQA): AVST, its ablation rows and the QA baselines."""
