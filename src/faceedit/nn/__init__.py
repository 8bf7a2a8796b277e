"""Pure-PyTorch StyleGAN2 networks, faithful to NVIDIA's (names, shapes and numerics)."""

from faceedit.nn.config import DiscriminatorConfig, GeneratorConfig
from faceedit.nn.discriminator import Discriminator
from faceedit.nn.generator import Generator, MappingNetwork, SynthesisNetwork

__all__ = ["Discriminator", "DiscriminatorConfig", "Generator", "GeneratorConfig", "MappingNetwork",
           "SynthesisNetwork"]
