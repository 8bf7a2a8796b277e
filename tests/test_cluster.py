"""DERC clustering: metrics, triplet loss, autoencoder shapes, IDX reader, DEC pieces, DERC end to end on tiny
synthetic images, resumable training, the CLI and its errors."""

from __future__ import annotations

import gzip
import json
import struct

import numpy as np
import pytest
import torch
from PIL import Image

from faceedit.cli import main
from faceedit.cluster.dec import run_dec, student_t_assignments, target_distribution
from faceedit.cluster.derc import Derc, DercConfig
from faceedit.cluster.idx import read_idx
from faceedit.cluster.metrics import cluster_accuracy, contingency, nmi
from faceedit.cluster.training import Budget
from faceedit.cluster.model import AutoencoderConfig, ConvAutoencoder, FeatureAutoencoder
from faceedit.cluster.sheet import contact_sheet
from faceedit.cluster.triplet import TripletSampler, embedding_distance, probabilistic_triplet_loss
from faceedit.errors import FaceEditError

pytestmark = pytest.mark.usefixtures("one_torch_thread")


# ------------------------------------------------------------------------------------------------ synthetic data
def blob_images(n_per: int = 12, size: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three visibly different kinds of noisy images: uint8 [3 n_per, size, size, 3] and their classes."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    out, classes = [], []
    for c in range(3):
        for _ in range(n_per):
            img = np.zeros((size, size, 3), np.float32)
            img[..., c] = 200.0
            if c == 0:
                img[(yy // 3) % 2 == 0] *= 0.3          # horizontal stripes
            elif c == 1:
                img[(xx - size / 2) ** 2 + (yy - size / 2) ** 2 < size] = 255.0  # a bright disc
            else:
                img[(xx // 3) % 2 == 0] *= 0.3          # vertical stripes
            img += rng.normal(0, 12, img.shape)
            out.append(np.clip(img, 0, 255).astype(np.uint8))
            classes.append(c)
    return np.stack(out), np.array(classes)


@pytest.fixture(scope="module")
def blob_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("blobs")
    images, classes = blob_images()
    for i, (img, c) in enumerate(zip(images, classes)):
        Image.fromarray(img).save(folder / f"class{c}_{i:02d}.png")
    (folder / "broken.png").write_bytes(b"this is not a png")
    return folder


# ------------------------------------------------------------------------------------------------ metrics
def test_accuracy_and_nmi_of_a_permuted_labeling_are_one():
    truth = np.array([0, 0, 1, 1, 2, 2, 2])
    pred = np.array([5, 5, 3, 3, 9, 9, 9])  # the same partition, other names
    assert cluster_accuracy(pred, truth) == 1.0
    assert nmi(pred, truth) == pytest.approx(1.0)


def test_accuracy_uses_a_one_to_one_mapping():
    truth = np.array([0, 0, 1, 1, 1, 1])
    pred = np.array([0, 0, 1, 1, 2, 2])  # class 1 split in two clusters: only one of them may map to it
    assert cluster_accuracy(pred, truth) == pytest.approx(4 / 6)
    # all in one cluster: the biggest class
    assert cluster_accuracy(np.zeros(6, int), truth) == pytest.approx(4 / 6)
    np.testing.assert_array_equal(contingency(pred, truth), [[2, 0], [0, 2], [0, 2]])


def test_nmi_of_an_independent_labeling_is_zero():
    assert nmi([0, 1, 0, 1], [0, 0, 1, 1]) == pytest.approx(0.0, abs=1e-12)
    assert 0.0 < nmi([0, 0, 1, 2], [0, 0, 1, 1]) < 1.0


def test_metrics_reject_mismatched_labels():
    with pytest.raises(FaceEditError):
        cluster_accuracy([0, 1], [0, 1, 2])
    with pytest.raises(FaceEditError):
        nmi([], [])


# ------------------------------------------------------------------------------------------------ triplet loss
def test_triplet_loss_is_zero_when_separated_and_positive_when_swapped():
    a = torch.tensor([[1.0, 0.0]])
    near, far = torch.tensor([[0.9, 0.1]]), torch.tensor([[-1.0, 0.0]])
    one = torch.ones(1)
    assert float(probabilistic_triplet_loss(a, near, far, one, one, margin=0.5)) == 0.0
    swapped = float(probabilistic_triplet_loss(a, far, near, one, one, margin=0.5))
    expected = float(embedding_distance(a, far) - embedding_distance(a, near)) + 0.5
    assert swapped == pytest.approx(expected)
    assert swapped > 3.0


def test_triplet_loss_weights_scale_the_pull_and_push():
    a, p, n = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]]), torch.tensor([[0.0, -1.0]])
    d = float(embedding_distance(a, p))  # 2.0, and the same for n
    full = probabilistic_triplet_loss(a, p, n, torch.ones(1), torch.ones(1), margin=0.5)
    no_pull = probabilistic_triplet_loss(a, p, n, torch.zeros(1), torch.ones(1), margin=0.5)
    half_push = probabilistic_triplet_loss(a, p, n, torch.ones(1), torch.full((1,), 0.5), margin=0.5)
    assert float(full) == pytest.approx(0.5)
    assert float(no_pull) == pytest.approx(0.0)  # max(0, -2 + 0.5)
    assert float(half_push) == pytest.approx(d - 0.5 * d + 0.5)


def test_triplet_gradient_pulls_positive_and_pushes_negative():
    torch.manual_seed(0)
    a = torch.randn(8, 4, requires_grad=True)
    p, n = torch.randn(8, 4), torch.randn(8, 4)
    w = torch.ones(8)
    for _ in range(50):
        loss = probabilistic_triplet_loss(a, p, n, w, w, margin=1.0)
        a.grad = None
        loss.backward()
        with torch.no_grad():
            a -= 0.5 * a.grad
    assert float((embedding_distance(a, p) - embedding_distance(a, n)).mean().detach()) < -0.5


def test_triplet_sampler_draws_from_the_right_clusters():
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1, 2], [5, 7, 9])
    proba = np.full((21, 3), 0.05)
    proba[np.arange(21), labels] = 0.9
    proba[3] = [0.5, 0.3, 0.2]  # a doubtful member of cluster 0
    sampler = TripletSampler(proba, seed=1)
    anchors = rng.integers(0, 21, 500)
    pos, neg, w_pos, w_neg = sampler.draw(anchors)
    assert (labels[pos] == labels[anchors]).all()
    assert (labels[neg] != labels[anchors]).all()
    np.testing.assert_allclose(w_pos, proba[pos, labels[anchors]], rtol=1e-6)
    np.testing.assert_allclose(w_neg, proba[neg, labels[neg]], rtol=1e-6)
    assert set(neg[labels[anchors] == 0]) == set(range(5, 21))  # every outsider gets drawn
    with pytest.raises(FaceEditError):
        TripletSampler(np.tile([[0.9, 0.1]], (4, 1)))  # one cluster only: no negatives


# ------------------------------------------------------------------------------------------------ models, IDX, DEC
@pytest.mark.parametrize("size", [28, 64, 17])
def test_autoencoder_reconstructs_its_input_shape(size):
    m = ConvAutoencoder(AutoencoderConfig(channels=3, size=size, widths=(4, 4, 4, 4, 4, 4), d_z=5))
    x = torch.rand(2, 3, size, size)
    z, r = m(x)
    assert z.shape == (2, 5) and r.shape == x.shape
    assert [type(l).__name__ for l in m.encoder_convs if isinstance(l, torch.nn.Conv2d)] == ["Conv2d"] * 6
    assert [c.stride[0] for c in m.encoder_convs if isinstance(c, torch.nn.Conv2d)] == [1, 2, 1, 2, 2, 1]
    with pytest.raises(FaceEditError):
        m.encode(torch.rand(2, 1, size, size))


def test_feature_autoencoder_shapes():
    m = FeatureAutoencoder(12, d_z=3, hidden=8)
    z, r = m(torch.randn(5, 12))
    assert z.shape == (5, 3) and r.shape == (5, 12)


def _idx_bytes(arr: np.ndarray, type_code: int = 0x08) -> bytes:
    return bytes([0, 0, type_code, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()


def test_idx_reader_round_trip_and_errors(tmp_path):
    arr = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    (tmp_path / "a-idx3-ubyte.gz").write_bytes(gzip.compress(_idx_bytes(arr)))
    np.testing.assert_array_equal(read_idx(tmp_path / "a-idx3-ubyte.gz"), arr)
    ints = np.array([1, -2, 70000], dtype=">i4")
    (tmp_path / "b").write_bytes(_idx_bytes(ints, 0x0C))
    np.testing.assert_array_equal(read_idx(tmp_path / "b"), [1, -2, 70000])
    (tmp_path / "short").write_bytes(_idx_bytes(arr)[:-5])
    with pytest.raises(FaceEditError, match="truncated"):
        read_idx(tmp_path / "short")
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04" + bytes(20))
    with pytest.raises(FaceEditError, match="not an IDX"):
        read_idx(tmp_path / "bad")


def test_dec_assignments_and_target():
    torch.manual_seed(0)
    z, mu = torch.randn(30, 4), torch.randn(3, 4)
    q = student_t_assignments(z, mu)
    torch.testing.assert_close(q.sum(1), torch.ones(30))
    assert (q.argmax(1) == torch.cdist(z, mu).argmin(1)).all()  # the nearest centroid is the most probable
    # balanced clusters: the target is q squared and renormalised (sharper, same argmax)
    qb = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.7, 0.2], [0.2, 0.1, 0.7]])
    torch.testing.assert_close(target_distribution(qb)[0], torch.tensor([0.49, 0.04, 0.01]) / 0.54)
    # a frequent cluster is down-weighted: a sample split evenly leans to the rarer cluster
    qf = torch.tensor([[0.9, 0.1], [0.9, 0.1], [0.9, 0.1], [0.5, 0.5]])
    p = target_distribution(qf)
    torch.testing.assert_close(p.sum(1), torch.ones(4))
    assert p[3, 1] > 0.5 and p[0, 0] > 0.9


# ------------------------------------------------------------------------------------------------ end to end
def _blob_tensor():
    images, classes = blob_images()
    return torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(), classes


def test_derc_separates_three_kinds_of_images():
    data, classes = _blob_tensor()
    torch.manual_seed(0)
    model = ConvAutoencoder(AutoencoderConfig(channels=3, size=16, widths=(4, 8, 8, 8, 8, 8), d_z=4))
    seen = []
    cfg = DercConfig(k=3, pretrain_epochs=25, rounds=1, round_epochs=2, batch_size=8)
    res = Derc(model, data, cfg, progress=False).run(evaluate=lambda lab: seen.append(lab) or {})
    assert cluster_accuracy(res.labels, classes) == 1.0
    assert res.proba.shape == (36, 3) and res.points.shape == (36, 2) and res.features.shape == (36, 4)
    assert [s.name for s in res.stages] == ["autoencoder", "t-SNE round 1", "GMM round 1", "triplet round 1",
                                            "t-SNE final", "GMM final"]
    assert len(seen) == 2


def test_dec_separates_gaussian_blobs_from_a_pretrained_encoder():
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 4, (3, 8))
    classes = np.repeat([0, 1, 2], 40)
    data = torch.from_numpy((centres[classes] + rng.normal(0, 1, (120, 8))).astype(np.float32))
    torch.manual_seed(0)
    model = FeatureAutoencoder(8, d_z=3, hidden=16)
    derc = Derc(model, data, DercConfig(k=3, pretrain_epochs=30, batch_size=16), progress=False)
    assert derc.pretrain(Budget(), [])  # stage 1, shared with DEC as in benchmarks/clustering.py
    dec = run_dec(model, data, 3, max_epochs=5, batch_size=32, progress=False,
                  evaluate=lambda lab: {"acc": cluster_accuracy(lab, classes)})
    assert cluster_accuracy(dec.labels, classes) == 1.0
    assert dec.proba.shape == (120, 3) and dec.points is None
    assert [s.name for s in dec.stages] == ["DEC k-means init", "DEC KL self-training"]


def test_derc_training_is_time_bounded_and_resumable(tmp_path):
    data, _ = _blob_tensor()

    def make():
        model = ConvAutoencoder(AutoencoderConfig(channels=3, size=16, widths=(4, 4, 4, 4, 4, 4), d_z=4))
        return Derc(model, data, DercConfig(k=3, pretrain_epochs=4, rounds=1, round_epochs=1, batch_size=12),
                    run_dir=tmp_path, progress=False)

    first = make()
    cut = first.run(time_budget=1e-9)
    assert not cut.complete and "time budget" in cut.note and first.epochs_done == 0
    done = make().run(resume=True)
    assert done.complete
    again = make()
    assert again.restore() and again.epochs_done == 4 and again.rounds_done == 1
    other = Derc(FeatureAutoencoder(5, 3, 4), torch.randn(36, 5), DercConfig(k=3), run_dir=tmp_path, progress=False)
    with pytest.raises(FaceEditError, match="another model"):
        other.restore()


def test_contact_sheet_rows_hold_the_most_confident_members():
    thumbs = np.zeros((6, 1, 8, 8), np.uint8)
    for i in range(6):
        thumbs[i] = 40 * i
    labels = np.array([0, 0, 0, 1, 1, 1])
    proba = np.array([[0.6, 0.4], [0.9, 0.1], [0.7, 0.3], [0.2, 0.8], [0.1, 0.9], [0.4, 0.6]])
    sheet = contact_sheet(thumbs, labels, proba, per_row=2, gap=2, label_width=20)
    assert sheet.shape == (2 * 28 + 2, 20 + 2 * 10 + 2, 3)
    assert sheet[2 + 4, 20 + 4, 0] == 40 and sheet[2 + 4, 30 + 4, 0] == 80    # cluster 0: members 1, 2
    assert sheet[30 + 4, 20 + 4, 0] == 160 and sheet[30 + 4, 30 + 4, 0] == 120  # cluster 1: members 4, 3


# ------------------------------------------------------------------------------------------------ CLI
def test_cli_round_trip_json_csv_and_pictures(blob_folder, tmp_path, capsys):
    out = tmp_path / "clusters.json"
    args = ["cluster", str(blob_folder), "--k", "3", "--size", "16", "--epochs", "25", "--rounds", "1", "--dz", "4",
            "--json", str(out), "--csv", str(tmp_path / "c.csv"), "-o", str(tmp_path / "sheet.png"),
            "--tsne-png", str(tmp_path / "tsne.png"), "-q"]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert f"skip: {blob_folder / 'broken.png'}: not an image" in captured.err
    assert "clustered 36 images into 3 clusters" in captured.out
    info = json.loads(out.read_text())
    rows = info["images_clustered"]
    assert len(rows) == 36 and info["skipped"][0]["path"] == "broken.png"
    truth = [int(r["path"][5]) for r in rows]
    assert cluster_accuracy([r["cluster"] for r in rows], truth) == 1.0
    assert (tmp_path / "c.csv").read_text().splitlines()[0] == "path,cluster,p"
    assert len((tmp_path / "c.csv").read_text().splitlines()) == 37
    for png in ("sheet.png", "tsne.png"):
        with Image.open(tmp_path / png) as im:
            assert im.size[0] > 50 and im.size[1] > 50


@pytest.mark.parametrize("args, message", [
    (["--k", "1"], "--k must be 2"),
    (["--k", "40"], "fewer than the 40 clusters"),
    (["--k", "3", "--features", "pixels"], "unknown --features"),
    (["--k", "3", "--size", "4"], "--size must be"),
    (["--k", "3", "--max-images", "5"], "over the cap of 5"),
    (["--k", "3", "--resume"], "--resume needs --run-dir"),
])
def test_cli_bad_input_gives_one_error_line(blob_folder, capsys, args, message):
    assert main(["cluster", str(blob_folder), *args, "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and message in err[-1]


def test_cli_empty_or_unreadable_folders(tmp_path, capsys):
    assert main(["cluster", str(tmp_path), "--k", "2", "-q"]) == 2
    assert "no images in" in capsys.readouterr().err
    assert main(["cluster", str(tmp_path / "missing"), "--k", "2", "-q"]) == 2
    assert "no such folder" in capsys.readouterr().err
    for i in range(3):
        (tmp_path / f"bad{i}.jpg").write_bytes(b"\xff\xd8 not really")
    assert main(["cluster", str(tmp_path), "--k", "2", "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert sum(line.startswith("skip: ") for line in err) == 3
    assert err[-1] == "error: none of the 3 images could be read"


def test_mixture_started_from_previous_labels_keeps_their_numbering():
    from faceedit.cluster.embed import fit_mixture

    rng = np.random.default_rng(0)
    centres = np.array([[0, 0], [8, 0], [0, 8], [8, 8]], float)
    truth = np.repeat(np.arange(4), 50)
    pts = centres[truth] + rng.normal(0, 0.7, (200, 2))
    fresh = fit_mixture(pts, 4)
    assert cluster_accuracy(fresh.labels, truth) == 1.0
    previous = (truth + 1) % 4  # last round's names for the same groups
    carried = fit_mixture(pts + 0.3, 4, init_labels=previous)
    np.testing.assert_array_equal(carried.labels, previous)
    np.testing.assert_allclose(carried.proba.sum(1), 1.0)


def test_feature_sources_give_one_vector_per_image():
    from faceedit.cluster.features import feature_function

    images, _ = blob_images(n_per=1, size=32)
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    attr = feature_function("attributes")(x)
    assert attr.shape == (3, 192) and torch.isfinite(attr).all()
    assert feature_function("derc") is None
    with pytest.raises(FaceEditError):
        feature_function("pixels")
    from faceedit.scorers import have_weights

    if not have_weights():
        pytest.skip("face-api weights not fetched (faceedit scorers fetch-faceapi)")
    ident = feature_function("identity")(torch.cat([x, x[:1]]))
    assert ident.shape == (4, 128)
    torch.testing.assert_close(ident[3], ident[0])
    assert float((ident[0] - ident[1]).norm()) > 0
