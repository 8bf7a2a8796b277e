"""Aligned training sets: build them from the raw face folders, pack them for the GPU machine, read them.

    faceedit data build --src ../shared/data --out DIR --size 128     # align everything, manifest.jsonl
    faceedit data pack DIR -o pack.zip --size 128 --quality 90         # one compact archive

Readers for training code (decode in DataLoader workers; x-flip is the trainer's job)::

    from faceedit.data import PackDataset, ImageFolderDataset
    ds = PackDataset("pack.zip", resolution=128, split="train")       # (uint8 3×R×R tensor, index)
    ds = ImageFolderDataset("DIR", resolution=64, normalize=True)     # (float 3×R×R in [-1, 1], index)
"""

from faceedit.data.sources import SOURCES, list_items, val_split


def __getattr__(name):  # lazy: importing faceedit.data must not import torch or dlib
    if name in ("build_dataset", "read_records"):
        from faceedit.data import build

        return getattr(build, name)
    if name in ("pack_dataset",):
        from faceedit.data import pack

        return getattr(pack, name)
    if name in ("PackDataset", "ImageFolderDataset", "read_manifest"):
        from faceedit.data import datasets

        return getattr(datasets, name)
    raise AttributeError(name)


__all__ = ["SOURCES", "ImageFolderDataset", "PackDataset", "build_dataset", "list_items", "pack_dataset",
           "read_manifest", "read_records", "val_split"]
