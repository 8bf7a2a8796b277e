"""StyleGAN2 losses (NVIDIA's ``StyleGAN2Loss``): non-saturating logistic loss, lazy R1, optional path length;
and the Wasserstein loss with gradient penalty (WGAN-GP, Gulrajani et al. 2017; the thesis's comparison), chosen
with ``TrainConfig.loss = "wgan-gp"``.

Generation for training uses style mixing: with probability ``p`` the w+ of a second z replaces the layers from a
random cutoff on (one cutoff per batch, as NVIDIA does).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F




def generate(G, z: torch.Tensor, style_mixing_prob: float = 0.0, update_emas: bool = False,
             return_ws: bool = False, channels_last: bool = False):
    """z [N, z_dim] → images [N, C, R, R] (noise 'random'), with style-mixing regularisation.

    The mapping (a few small matmuls) runs in float32 even under autocast, so ``w_avg`` tracks float32 values.
    """
    with torch.autocast(z.device.type, enabled=False):
        ws = G.mapping(z, update_emas=update_emas)
        if style_mixing_prob > 0:
            num_ws = ws.shape[1]
            cutoff = int(torch.randint(1, num_ws, ()).item())
            if torch.rand(()).item() < style_mixing_prob:
                ws2 = G.mapping(torch.randn_like(z), update_emas=False)
                ws = torch.cat([ws[:, :cutoff], ws2[:, cutoff:]], dim=1)
    # layout: NCHW unless asked (measured on the 2-core CPU, 64 px, bf16: channels-last synthesis trains 4-6x
    # slower per CPU-second than NCHW, because of its backward convolutions)
    img = G.synthesis(ws, noise_mode="random", channels_last=bool(channels_last))
    if channels_last:
        img = img.contiguous(memory_format=torch.channels_last)
    return (img, ws) if return_ws else img


def g_loss_nonsaturating(fake_logits: torch.Tensor) -> torch.Tensor:
    """-log(sigmoid(D(G(z)))) averaged."""
    return F.softplus(-fake_logits.float()).mean()


def d_loss_logistic(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """-log(sigmoid(D(x))) - log(1 - sigmoid(D(G(z)))) averaged."""
    return F.softplus(fake_logits.float()).mean() + F.softplus(-real_logits.float()).mean()


def r1_penalty(real_img: torch.Tensor, real_logits: torch.Tensor) -> torch.Tensor:
    """Per-sample squared gradient norm of D's output w.r.t. the real images, [N] (``real_img`` must require grad)."""
    (grad,) = torch.autograd.grad(outputs=[real_logits.float().sum()], inputs=[real_img], create_graph=True,
                                  only_inputs=True)
    return grad.float().square().sum(dim=[1, 2, 3])


def path_length_penalty(img: torch.Tensor, ws: torch.Tensor, pl_mean: torch.Tensor, decay: float = 0.01):
    """Path-length regulariser: returns (per-sample penalty [N], updated pl_mean)."""
    noise = torch.randn_like(img) / math.sqrt(img.shape[2] * img.shape[3])
    (grad,) = torch.autograd.grad(outputs=[(img * noise).sum()], inputs=[ws], create_graph=True, only_inputs=True)
    lengths = grad.float().square().sum(2).mean(1).sqrt()
    new_mean = pl_mean.lerp(lengths.mean().detach(), decay)
    return (lengths - new_mean).square(), new_mean


def default_r1_gamma(resolution: int) -> float:
    """γ scaled with the image area from the paper's γ = 1 at 256 px (0.0625 at 64 px, 0.25 at 128 px)."""
    return (resolution / 256.0) ** 2


#: The GAN losses ``train gan --loss`` takes: NVIDIA's non-saturating logistic loss with R1 (the default), or
#: WGAN-GP (critic output as a score, gradient penalty on real/fake interpolates, ProGAN's small drift term).
GAN_LOSSES = ("logistic", "wgan-gp")
#: WGAN-GP's penalty weight λ and ProGAN's drift weight (E[D(x)²] keeps the critic's output near 0).
WGAN_GP_LAMBDA = 10.0
WGAN_DRIFT = 1e-3


def g_loss_wgan(fake_logits: torch.Tensor) -> torch.Tensor:
    """-E[D(G(z))]."""
    return -fake_logits.float().mean()


def d_loss_wgan(real_logits: torch.Tensor, fake_logits: torch.Tensor, drift: float = WGAN_DRIFT) -> torch.Tensor:
    """E[D(G(z))] - E[D(x)] + drift · E[D(x)²]."""
    real = real_logits.float()
    return fake_logits.float().mean() - real.mean() + drift * real.square().mean()


def gradient_penalty(D, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """WGAN-GP's penalty per sample [N]: (‖∇_x̂ D(x̂)‖₂ − 1)² at x̂ = ε·real + (1 − ε)·fake, ε ~ U(0, 1) per
    sample (images [N, C, H, W], fake detached)."""
    eps = torch.rand(real.shape[0], 1, 1, 1, device=real.device, dtype=real.dtype)
    mixed = (eps * real.detach() + (1 - eps) * fake.detach().to(real.dtype)).requires_grad_(True)
    (grad,) = torch.autograd.grad(outputs=[D(mixed).float().sum()], inputs=[mixed], create_graph=True,
                                  only_inputs=True)
    return (grad.float().flatten(1).norm(dim=1) - 1).square()
