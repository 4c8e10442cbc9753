"""Floor 3: one package per task family, each with one contract: a frozen job that carries its seed, and
`train(job, data) -> result` that the worker pool (`avlib.core.pool.run_tasks`) runs.

  classify/  AV classification (OGM-GE Tables 1-3, Fig. 1): fit, the batched path, run specs, probes
  ave/       audio-visual event localization (OGM-GE Table 4)
  qa/        audio-visual question answering (MUSIC-AVQA)
  avts/      self-supervised audio-visual synchronization (AVTS)
  asr/       audio-visual speech recognition with bilinear fusion
"""
