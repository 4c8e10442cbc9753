"""Floor 1: the runtime every stage runs on (seeding, devices, kernel pins, the worker pool, resume
checkpoints, torchrun/DDP, atomic writes, parameter schemas, metrics). Imports nothing of avlib outside
itself."""
