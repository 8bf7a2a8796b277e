"""Random VGG weights in torchvision's key layout (``features.{i}.weight`` / ``.bias``), for tests that need a
VGG file without the fetched ImageNet weights."""

import torch

from faceedit.features import VGG


def random_vgg_state(arch: str = "vgg16", seed: int = 0) -> dict[str, torch.Tensor]:
    """He-initialised conv weights (activations stay alive through 13/16 layers), small random biases."""
    torch.manual_seed(seed)
    net = VGG(arch, "torchvision")
    for m in net.features:
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.normal_(m.weight, std=(2 / (m.in_channels * 9)) ** 0.5)
            torch.nn.init.normal_(m.bias, std=0.01)
    return {f"features.{k}": v.clone() for k, v in net.features.state_dict().items()}
