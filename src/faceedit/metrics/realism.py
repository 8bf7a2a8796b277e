"""Realism of generated faces: Fréchet distance and KID in the feature space of a trained face network the
project has (or of FID's Inception-v3 when the user supplies its weights), reported beside the same distances
between two halves of the real set (the floor: what a perfect generator would score with this many samples).

Feature networks (``features=``):
- ``"faceapi"`` (default): face-api's copy of dlib's face-recognition ResNet (trained on ~3 M faces; offline
  once set-up fetched its weights). Images are resized to 150 px and each of its four stages (32, 64, 128, 256
  channels) is average-pooled over space and concatenated: 480 features that see colour, texture and layout,
  not only identity. Not comparable to published FIDs; comparable between runs of this project.
- ``"disc"``: the penultimate layer (``b4.fc``) of a discriminator from a faceedit weights file. Trained on the same
  data as the generator, so it flatters it: a sanity check, not a score.
- ``"inception"``: standard FID / KID. The 2048-d pool3 features of FID's Inception-v3
  (:mod:`faceedit.metrics.inception`) with weights from a file the user supplies (pytorch-fid's
  ``pt_inception-2015-12-05-6726825d.pth``; none can be had offline here). Images are resized to 299 px
  bilinearly; generated images are rounded to 8 bits first, as the reals are. Comparable to published FIDs at
  the same sample size and real set (FID is biased upwards at small n: the floor shows by how much).

- ``"vgg16"``: ImageNet VGG16 (the Oxford weights fetched by ``faceedit features fetch vgg16``), images resized
  to :data:`VGG_SIZE` px, the ReLU outputs of :data:`VGG_LAYERS` (relu3_3, relu4_3, relu5_3) spatially averaged and
  concatenated (896 features). A general-purpose network not trained on faces: the space for precision and
  recall. This set-up was chosen by ``benchmarks/realism_features.py``: of the sizes, layers and poolings tried it
  is the one whose precision falls most for blurred and noisy faces and whose recall falls to 0 for a collapsed set
  and the collapsed 146-kimg generator, while two real halves score alike.

Precision and recall (Kynkäänniemi et al. 2019): each set's manifold is the union of balls around its samples
with radius the distance to the k-th nearest neighbour in the same set (k = 3); precision is the share of
generated samples inside the real manifold, recall the share of real samples inside the generated one. Identity
diversity: the mean pairwise identity distance (face-api's copy of dlib's face-recognition ResNet, Euclidean;
same person < 0.6) between generated faces, beside the same figure for real faces at the same resolution.

KID: unbiased MMD² with the cubic polynomial kernel ``k(x, y) = (x·y / d + 1)³``, averaged over subsets.
"""

from __future__ import annotations

import numpy as np
import torch

from faceedit.errors import FaceEditError

FEATURES = ("faceapi", "vgg16", "disc", "inception")


def frechet_distance(a: np.ndarray | torch.Tensor, b: np.ndarray | torch.Tensor) -> float:
    """‖μa − μb‖² + Tr(Σa + Σb − 2 (Σa Σb)^½) of two feature sets [N, D]."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or min(len(a), len(b)) < 2:
        raise FaceEditError("Fréchet distance needs two feature sets [N, D] of the same D with N >= 2")
    mu1, mu2 = a.mean(0), b.mean(0)
    if max(len(a), len(b)) < a.shape[1]:
        # fewer samples than features (e.g. a small check with 2048 Inception features): with centred A, B,
        # Σa = AᵀA/(na−1), Σb = BᵀB/(nb−1), the non-zero eigenvalues of Σa Σb are the squared singular values of
        # A Bᵀ / √((na−1)(nb−1)), so Tr((Σa Σb)^½) is its nuclear norm: exact, on [na, nb] matrices, not [D, D]
        ca, cb = a - mu1, b - mu2
        na, nb = len(a) - 1, len(b) - 1
        tr_covmean = np.linalg.svd(ca @ cb.T, compute_uv=False).sum() / np.sqrt(na * nb)
        return float(((mu1 - mu2) ** 2).sum() + (ca ** 2).sum() / na + (cb ** 2).sum() / nb - 2 * tr_covmean)
    s1, s2 = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    # Tr((Σ1 Σ2)^½) = Σ √λ of the symmetric PSD matrix Σ1^½ Σ2 Σ1^½ (stable, no complex parts)
    w, v = np.linalg.eigh(s1)
    r1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    lam = np.linalg.eigvalsh(r1 @ s2 @ r1)
    tr_covmean = np.sqrt(np.clip(lam, 0, None)).sum()
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * tr_covmean)


def kernel_inception_distance(a, b, subsets: int = 50, subset_size: int = 1000,
                              seed: int = 0) -> tuple[float, float]:
    """KID (mean, std over subsets) of two feature sets [N, D]."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    d = a.shape[1]
    m = min(len(a), len(b), subset_size)
    if m < 2:
        raise FaceEditError("KID needs at least 2 samples per set")
    rng = np.random.default_rng(seed)
    vals = []
    for _ in range(subsets):
        x = a[rng.choice(len(a), m, replace=False)]
        y = b[rng.choice(len(b), m, replace=False)]
        kxx = (x @ x.T / d + 1) ** 3
        kyy = (y @ y.T / d + 1) ** 3
        kxy = (x @ y.T / d + 1) ** 3
        mmd = ((kxx.sum() - np.trace(kxx)) + (kyy.sum() - np.trace(kyy))) / (m * (m - 1)) - 2 * kxy.mean()
        vals.append(mmd)
    return float(np.mean(vals)), float(np.std(vals))


class FaceApiFeatures(torch.nn.Module):
    """Average-pooled stage outputs of face-api's recognition ResNet → [N, 480]."""

    name = "faceapi"

    def __init__(self, cache=None, size: int = 150):
        super().__init__()
        from faceedit.scorers import load_faceapi

        self.api = load_faceapi(cache)
        self.size = size

    @torch.no_grad()
    def forward(self, img: torch.Tensor) -> torch.Tensor:
        net = self.api.recognition_net
        p = next(net.parameters())
        inp = self.api.preprocess(img.to(p.device, p.dtype), self.size, resize="auto", box=None)
        feats = net.features(inp, upto=net.FEATURE_LAYERS[-1])
        return torch.cat([f.float().mean(dim=[2, 3]) for f in feats], dim=1)


#: VGG16 realism features: chosen by ``benchmarks/realism_features.py`` (the set-up that best separates real
#: faces from degraded and collapsed sets while two real halves score alike).
VGG_SIZE = 64
VGG_LAYERS = ("relu3_3", "relu4_3", "relu5_3")
VGG_POOLING = "mean"


class VGGFeatures(torch.nn.Module):
    """Pooled VGG16 activations → [N, ΣC] (see the module docstring)."""

    name = "vgg16"

    def __init__(self, weights=None, cache=None, size: int | None = VGG_SIZE, layers=VGG_LAYERS,
                 pooling: str = VGG_POOLING):
        super().__init__()
        from faceedit.features import load_vgg

        self.net = load_vgg(weights, cache)
        self.size, self.layers, self.pooling = size, tuple(layers), pooling

    @torch.no_grad()
    def forward(self, img: torch.Tensor) -> torch.Tensor:
        from faceedit.features import pooled, resize_for

        p = next(self.net.parameters())
        x = resize_for(img.to(p.device, torch.float32), self.size)
        return pooled(self.net.extract(x, self.layers), self.pooling)


class DiscriminatorFeatures(torch.nn.Module):
    """The output of a discriminator's ``b4.fc`` layer (its penultimate features)."""

    name = "disc"

    def __init__(self, D: torch.nn.Module):
        super().__init__()
        self.D = D.eval()
        self._out: list[torch.Tensor] = []
        D.b4.fc.register_forward_hook(lambda m, i, o: self._out.append(o))

    @torch.no_grad()
    def forward(self, img: torch.Tensor) -> torch.Tensor:
        self._out.clear()
        r = self.D.img_resolution
        if img.shape[-1] != r:
            img = torch.nn.functional.interpolate(img, size=(r, r), mode="area")
        n = img.shape[0]
        mbstd = getattr(self.D.b4, "mbstd", None)
        group = getattr(mbstd, "group_size", None) or 1
        if n > group and n % group:  # minibatch-std needs whole groups: pad with copies of the last image
            img = torch.cat([img, img[-1:].expand(group - n % group, -1, -1, -1)])
        self.D(img.float())
        return self._out[-1][:n].float()


def extract(net, images: torch.Tensor, batch: int = 64) -> np.ndarray:
    """Features of images [N, 3, H, W] (uint8, or float in [-1, 1]) in batches → [N, D] numpy."""
    out = []
    with torch.no_grad():
        for i in range(0, len(images), batch):
            x = images[i:i + batch]
            if x.dtype == torch.uint8:
                x = x.float() / 127.5 - 1
            out.append(net(x).float().cpu().numpy())
    return np.concatenate(out)


def inception_features(weights, device: str | torch.device = "cpu") -> torch.nn.Module:
    """FID's Inception-v3 (pool3, 2048 features) with the weights of a user-supplied file."""
    from faceedit.metrics.inception import WHERE_TO_GET, load_inception

    if weights is None:
        raise FaceEditError(f"no Inception weights given (--inception-weights FILE); {WHERE_TO_GET}")
    return load_inception(weights, device)


def to_uint8(img: torch.Tensor) -> torch.Tensor:
    """Generated images in [-1, 1] → uint8 pixels (what a saved PNG holds; FID scores 8-bit images)."""
    return ((img.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def realism_report(fake_feats: np.ndarray, real_feats: np.ndarray, seed: int = 0) -> dict:
    """FD / KID of fakes against half A of the reals, and of half B against half A (the floor), at equal n."""
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(real_feats))
    m = min(len(fake_feats), len(real_feats) // 2)
    if m < 10:
        raise FaceEditError(f"too few samples for a realism figure ({m}); use more real images / --n")
    ra, rb = real_feats[perm[:m]], real_feats[perm[m:2 * m]]
    fk = fake_feats[:m]
    kid, kid_sd = kernel_inception_distance(fk, ra, subset_size=min(1000, m))
    kid0, kid0_sd = kernel_inception_distance(rb, ra, subset_size=min(1000, m))
    return {"n": int(m), "fd": frechet_distance(fk, ra), "fd_floor": frechet_distance(rb, ra),
            "kid": kid, "kid_std": kid_sd, "kid_floor": kid0, "kid_floor_std": kid0_sd}


def kth_nn_radii(x: torch.Tensor, k: int, chunk: int = 1024) -> torch.Tensor:
    """Distance from each row of x to its k-th nearest other row."""
    radii = []
    for i in range(0, len(x), chunk):
        d = torch.cdist(x[i:i + chunk], x)
        radii.append(d.kthvalue(k + 1, dim=1).values)  # the 1st is the point itself (distance 0)
    return torch.cat(radii)


def manifold_coverage(query: torch.Tensor, ref: torch.Tensor, radii: torch.Tensor,
                      chunk: int = 1024) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Each query row against the k-NN manifold of ``ref`` (a ball of radius ``radii[j]`` around ref row j): is it
    inside some ball (bool), its smallest distance / radius over the balls (how far outside: > 1), and the index of
    its nearest ref row."""
    inside, ratio, nearest = [], [], []
    for i in range(0, len(query), chunk):
        d = torch.cdist(query[i:i + chunk], ref)
        inside.append((d <= radii[None, :]).any(dim=1))
        ratio.append((d / radii[None, :]).min(dim=1).values)
        nearest.append(d.argmin(dim=1))
    return torch.cat(inside), torch.cat(ratio), torch.cat(nearest)


def precision_recall(real: np.ndarray | torch.Tensor, fake: np.ndarray | torch.Tensor, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019) of feature sets [N, D] with k-NN manifolds."""
    r = torch.as_tensor(np.asarray(real), dtype=torch.float64)
    f = torch.as_tensor(np.asarray(fake), dtype=torch.float64)
    if r.ndim != 2 or f.ndim != 2 or r.shape[1] != f.shape[1]:
        raise FaceEditError("precision/recall need two feature sets [N, D] of the same D")
    if min(len(r), len(f)) <= k:
        raise FaceEditError(f"precision/recall need more than k={k} samples per set")
    precision = manifold_coverage(f, r, kth_nn_radii(r, k))[0].double().mean().item()
    recall = manifold_coverage(r, f, kth_nn_radii(f, k))[0].double().mean().item()
    return float(precision), float(recall)


def precision_recall_report(fake_feats: np.ndarray, real_feats: np.ndarray, k: int = 3, seed: int = 0) -> dict:
    """Precision/recall of fakes against half A of the reals, and of half B against half A (the reference), at
    equal n on both sides."""
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(real_feats))
    m = min(len(fake_feats), len(real_feats) // 2)
    if m <= k:
        raise FaceEditError(f"too few samples for precision/recall ({m}); use more real images / --n")
    ra, rb = real_feats[perm[:m]], real_feats[perm[m:2 * m]]
    p, r = precision_recall(ra, fake_feats[:m], k)
    p0, r0 = precision_recall(ra, rb, k)
    return {"n_pr": int(m), "k": int(k), "precision": p, "recall": r, "precision_real": p0, "recall_real": r0,
            "precision_ratio": p / max(p0, 1e-12), "recall_ratio": r / max(r0, 1e-12)}


def mean_pairwise_distance(desc: torch.Tensor | np.ndarray) -> float:
    """Mean Euclidean distance over all unordered pairs of rows."""
    x = torch.as_tensor(np.asarray(desc), dtype=torch.float64)
    n = len(x)
    if n < 2:
        raise FaceEditError("identity diversity needs at least 2 faces")
    d = torch.cdist(x, x)
    return float(d.sum().item() / (n * (n - 1)))


def identity_descriptors(images: torch.Tensor, batch: int = 64, cache=None) -> np.ndarray:
    """128-d identity descriptors (face-api's copy of dlib's ResNet) of FFHQ-aligned faces [N, 3, H, W] (uint8,
    or float in [-1, 1])."""
    from faceedit.metrics.distances import IdentityDistance

    ident = IdentityDistance("faceapi", cache=cache)
    out = []
    with torch.no_grad():
        for i in range(0, len(images), batch):
            x = images[i:i + batch]
            if x.dtype == torch.uint8:
                x = x.float() / 127.5 - 1
            out.append(ident.descriptors(x.float()).float().cpu().numpy())
    return np.concatenate(out)


def identity_diversity(fake: torch.Tensor, real: torch.Tensor, n: int = 1000, cache=None) -> dict:
    """Mean pairwise identity distance of up to n generated faces, and of n real faces brought to the same
    resolution (area-downsampled, like the generator's output)."""
    res = fake.shape[-1]
    real = real[:n]
    if real.shape[-1] != res:
        real = torch.nn.functional.interpolate(real.float(), size=(res, res), mode="area")
        real = real.round().clamp(0, 255).to(torch.uint8)
    df = identity_descriptors(fake[:n], cache=cache)
    dr = identity_descriptors(real, cache=cache)
    div, div0 = mean_pairwise_distance(df), mean_pairwise_distance(dr)
    return {"identity_diversity": div, "identity_diversity_real": div0,
            "identity_diversity_ratio": div / max(div0, 1e-12), "n_identity": int(min(len(df), len(dr)))}
