import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score
from torch import nn
from torch.utils.data import TensorDataset

from fgkd.eval import extract_features, linear_probe, retrieval_metrics


def brute_force_retrieval(features, labels):
    z = torch.nn.functional.normalize(features.double(), dim=1).numpy()
    labels = labels.numpy()
    r1, r5, aps = [], [], []
    for i in range(len(z)):
        others = [j for j in range(len(z)) if j != i]
        sims = np.array([z[i] @ z[j] for j in others])
        rel = np.array([labels[j] == labels[i] for j in others])
        if not rel.any():
            continue
        order = np.argsort(-sims)
        r1.append(rel[order[0]])
        r5.append(rel[order[:5]].any())
        aps.append(average_precision_score(rel, sims))
    return {"R-1": 100 * np.mean(r1), "R-5": 100 * np.mean(r5), "mAP": 100 * np.mean(aps)}


@pytest.mark.parametrize("chunk_size", [7, 1024])
def test_retrieval_matches_a_brute_force_loop(chunk_size):
    g = torch.Generator().manual_seed(0)
    labels = torch.cat([torch.randint(0, 5, (40,), generator=g), torch.tensor([9])])  # class 9: a singleton
    features = torch.randn(41, 8, generator=g) + 0.8 * torch.nn.functional.one_hot(labels % 8, 8)
    ours = retrieval_metrics(features, labels, chunk_size=chunk_size)
    ref = brute_force_retrieval(features, labels)
    for key in ("R-1", "R-5", "mAP"):
        assert ours[key] == pytest.approx(ref[key], abs=1e-4)


def test_retrieval_perfect_clusters_and_errors():
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    features = torch.nn.functional.one_hot(labels, 3).float() + 0.01 * torch.randn(6, 3)
    assert retrieval_metrics(features, labels) == {"R-1": 100.0, "R-5": 100.0, "mAP": 100.0}
    with pytest.raises(ValueError, match="no query"):
        retrieval_metrics(torch.randn(3, 2), torch.tensor([0, 1, 2]))


def blobs(n_per_class, num_classes, dim, seed, separation=4.0):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(num_classes, dim, generator=torch.Generator().manual_seed(99)) * separation
    labels = torch.arange(num_classes).repeat_interleave(n_per_class)
    return centres[labels] + torch.randn(len(labels), dim, generator=g), labels


def test_linear_probe_separates_blobs_and_is_seeded():
    x_tr, y_tr = blobs(30, 6, 16, seed=0)
    x_te, y_te = blobs(20, 6, 16, seed=1)
    x_tr, x_te = 50 * x_tr + 7, 50 * x_te + 7  # standardisation makes the scale irrelevant
    res = linear_probe(x_tr, y_tr, x_te, y_te, epochs=20, batch_size=64)
    assert res["top1"] > 95 and res["top5"] == 100.0
    assert linear_probe(x_tr, y_tr, x_te, y_te, epochs=20, batch_size=64) == res
    full = linear_probe(x_tr, y_tr, x_te, y_te, epochs=50, batch_size=None)
    assert full["top1"] > 95


def test_linear_probe_is_near_chance_on_unrelated_features():
    x_tr, _ = blobs(30, 6, 16, seed=0)
    x_te, y_te = blobs(20, 6, 16, seed=1)
    y_tr = torch.randint(0, 6, (len(x_tr),), generator=torch.Generator().manual_seed(3))
    assert linear_probe(x_tr, y_tr, x_te, y_te, epochs=20)["top1"] < 50


def test_linear_probe_checks_shapes():
    with pytest.raises(ValueError, match="dimension"):
        linear_probe(torch.randn(4, 3), torch.zeros(4).long(), torch.randn(4, 2), torch.zeros(4).long())


class Encoded(nn.Module):
    def __init__(self):
        super().__init__()
        self.bn = nn.BatchNorm1d(4)

    def encode(self, x):
        assert not self.training
        return self.bn(x.flatten(1)[:, :4])

    def forward(self, x1, x2):  # like MoCo: needs two views, so extraction must use encode
        raise AssertionError("extract_features must call encode")


def test_extract_features_uses_encode_eval_mode_and_restores_it():
    images = torch.randn(10, 1, 2, 2)
    labels = torch.arange(10) % 3
    model = Encoded().train()
    feats, labs = extract_features(model, TensorDataset(images, labels), batch_size=4)
    assert feats.shape == (10, 4) and feats.dtype == torch.float32
    assert torch.equal(labs, labels) and model.training
    assert torch.allclose(feats, images.flatten(1), atol=1e-4)  # fresh BN in eval mode is the identity
    plain, _ = extract_features(lambda x: x.flatten(1) * 2, TensorDataset(images, labels), batch_size=3)
    assert torch.allclose(plain, 2 * images.flatten(1))


def test_knn_classifier_matches_an_independent_vote():
    import numpy as np

    from fgkd.eval import knn_classifier

    g = torch.Generator().manual_seed(0)
    centres = torch.randn(3, 8, generator=g) * 4
    train_labels = torch.arange(60) % 3
    test_labels = torch.arange(30) % 3
    train = centres[train_labels] + torch.randn(60, 8, generator=g)
    test = centres[test_labels] + torch.randn(30, 8, generator=g)
    got = knn_classifier(train, train_labels, test, test_labels, k=5, temperature=0.1)
    # by hand: cosine similarities, the 5 nearest, exp(sim / T) votes
    a = (test / test.norm(dim=1, keepdim=True)).numpy()
    b = (train / train.norm(dim=1, keepdim=True)).numpy()
    sim = a @ b.T
    right = 0
    for i in range(30):
        nearest = np.argsort(-sim[i])[:5]
        votes = np.zeros(3)
        for j in nearest:
            votes[train_labels[j]] += np.exp(sim[i, j] / 0.1)
        right += votes.argmax() == test_labels[i].item()
    assert got["top1"] == pytest.approx(100.0 * right / 30)
    assert got["top1"] > 90  # separable classes


def _separable(n_per_class=30, dim=8, classes=3, seed=0, noise=1.5):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(classes, dim, generator=g) * 2
    labels = torch.arange(classes).repeat_interleave(n_per_class)
    return centres[labels] + noise * torch.randn(len(labels), dim, generator=g), labels


def test_the_probe_reports_final_best_on_test_and_validation_selected_epochs():
    xtr, ytr = _separable(seed=0)
    xte, yte = _separable(seed=1)
    xva, yva = _separable(n_per_class=10, seed=2)
    out = linear_probe(xtr, ytr, xte, yte, epochs=15, lr=0.05, batch_size=16, val_features=xva, val_labels=yva)
    assert out["top1_best"] >= out["top1"] and 1 <= out["best_epoch"] <= 15
    assert out["top1_best"] >= out["top1_selected"] and 1 <= out["selected_epoch"] <= 15
    # an independent replay: the best-on-test epoch's accuracy equals a probe stopped at that epoch
    # (cosine schedules differ in length, so replay with a constant learning rate)
    plain = linear_probe(xtr, ytr, xte, yte, epochs=15, lr=0.05, batch_size=16, schedule="steps", milestones=(2.0,))
    stopped = linear_probe(xtr, ytr, xte, yte, epochs=int(plain["best_epoch"]), lr=0.05, batch_size=16,
                           schedule="steps", milestones=(2.0,))
    assert stopped["top1"] == plain["top1_best"]
    fast = linear_probe(xtr, ytr, xte, yte, epochs=15, lr=0.05, batch_size=16)
    assert fast["top1"] == out["top1"]  # validation only watches: the training is the same


def test_the_authors_probe_l2_normalises_steps_the_lr_and_reencodes_each_epoch():
    xtr, ytr = _separable(seed=0)
    xte, yte = _separable(seed=1)
    seen = []

    def views(epoch):  # a new augmented view per epoch, as linear_probing.py re-runs the backbone
        seen.append(epoch)
        g = torch.Generator().manual_seed(100 + epoch)
        return xtr + 0.1 * torch.randn(xtr.shape, generator=g)

    out = linear_probe(views, ytr, xte, yte, epochs=10, lr=30.0, batch_size=256, normalise="l2", schedule="steps",
                       milestones=(0.6, 0.8))
    assert seen == list(range(10)) and 0 <= out["top1"] <= 100
    # L2 normalisation: scaling the features changes nothing
    scaled = linear_probe(lambda e: 7.0 * views(e), ytr, 7.0 * xte, yte, epochs=10, lr=30.0, batch_size=256,
                          normalise="l2", schedule="steps")
    assert scaled["top1"] == out["top1"] and scaled["top1_best"] == out["top1_best"]
    with pytest.raises(ValueError, match="normalise must be one of"):
        linear_probe(xtr, ytr, xte, yte, normalise="pca")
