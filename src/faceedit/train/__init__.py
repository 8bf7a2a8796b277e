"""Training: StyleGAN2 GAN training (``faceedit train gan``), resumable and cumulative.

Modules: :mod:`augment` (DiffAugment), :mod:`losses` (non-saturating logistic loss, lazy R1, path length),
:mod:`ema` (generator EMA with ramp-up), :mod:`checkpoint` (atomic full-state checkpoints, fp16 safetensors
export/import), :mod:`dataset` (images in memory), :mod:`gan` (the loop, single process or DDP).
"""
