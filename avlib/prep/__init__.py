"""Raw-data preparation: datasets as released -> the on-disk layouts the loaders read (one file per dataset,
ffmpeg from the imageio-ffmpeg wheel in `media.py`, the resumable per-clip runner in `common.py`)."""
