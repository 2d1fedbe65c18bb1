"""Tests of the leave-one-out k-NN accuracy against a brute-force loop."""

import numpy as np
import pytest
from sklearn.decomposition import PCA

from sktransfer.metrics import KNNScore, knn_score


def _blobs(n_samples=150, n_features=5, n_classes=3, spread=1.0, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n_samples) % n_classes
    rng.shuffle(y)
    centers = spread * rng.normal(size=(n_classes, n_features))
    return centers[y] + rng.normal(size=(n_samples, n_features)), y


def _brute_force(X, y, k, metric):
    """Leave-one-out k-NN accuracy with explicit loops: every distance computed
    directly, the sample itself excluded by index, a stable sort, and a vote whose
    ties go to the tied class met first from the nearest neighbour outwards."""
    n = X.shape[0]
    correct = 0
    for i in range(n):
        others = [j for j in range(n) if j != i]
        if metric == "euclidean":
            dist = [np.sqrt(np.sum((X[i] - X[j]) ** 2)) for j in others]
        else:
            dist = [
                1 - X[i] @ X[j] / (np.linalg.norm(X[i]) * np.linalg.norm(X[j]))
                for j in others
            ]
        nearest = [others[j] for j in np.argsort(dist, kind="stable")[:k]]
        votes = {}
        for j in nearest:
            votes[y[j]] = votes.get(y[j], 0) + 1
        best = max(votes.values())
        prediction = next(y[j] for j in nearest if votes[y[j]] == best)
        correct += prediction == y[i]
    return correct / n


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
@pytest.mark.parametrize("k", [1, 2, 4, 7])
def test_matches_brute_force(k, metric):
    # Even k with 3 overlapping classes gives many tied votes.
    X, y = _blobs()
    expected = _brute_force(X, y, k, metric)
    assert knn_score(X, y, n_neighbors=k, metric=metric) == expected


def test_vote_ties_do_not_depend_on_class_names():
    X, y = _blobs()
    reference = knn_score(X, y, n_neighbors=4)
    for mapping in ([2, 0, 1], [1, 2, 0]):
        assert knn_score(X, np.array(mapping)[y], n_neighbors=4) == reference


def test_hand_checked_duplicates_never_count_themselves():
    # Worked by hand: each point's only neighbour at distance 0 is its duplicate.
    X = np.array([[0.0], [0.0], [5.0], [5.0]])
    assert knn_score(X, [0, 1, 0, 1]) == 0.0  # the duplicate has the other label
    assert knn_score(X, [0, 0, 1, 1]) == 1.0
    # Four copies of each point, all labels different within a group: whichever
    # duplicates are picked among the ties, none can carry the sample's label.
    X = np.repeat([[0.0, 0.0], [10.0, 10.0]], 4, axis=0)
    y = np.tile([0, 1, 2, 3], 2)
    assert knn_score(X, y) == 0.0
    assert knn_score(X, y, n_neighbors=2) == 0.0


def test_limits_separable_and_random():
    rng = np.random.default_rng(0)
    y = np.arange(600) % 3
    separable = 10.0 * np.eye(3, 10)[y] + rng.normal(size=(600, 10))
    assert knn_score(separable, y) == 1.0
    # Features independent of the labels: chance accuracy, 1/3.
    assert 0.25 < knn_score(rng.normal(size=(600, 10)), y) < 0.42


def test_pca_option_matches_brute_force_on_projected_data():
    X, y = _blobs(n_features=12, spread=0.5)
    Z = PCA(n_components=3).fit_transform(X)
    expected = _brute_force(Z, y, 3, "euclidean")
    assert knn_score(X, y, n_neighbors=3, n_components=3) == expected


def test_clips_n_neighbors_with_warning():
    X, y = _blobs(n_samples=6)
    with pytest.warns(UserWarning, match="larger than n_samples - 1 = 5"):
        est = KNNScore(n_neighbors=10).fit(X, y)
    assert est.n_neighbors_ == 5
    assert est.score_ == _brute_force(X, y, 5, "euclidean")


def test_score_recomputes_on_new_data():
    X, y = _blobs(n_samples=300)
    est = KNNScore(n_neighbors=3).fit(X[:200], y[:200])
    assert est.score(X[:200], y[:200]) == est.score_
    assert est.score(X[200:], y[200:]) == knn_score(X[200:], y[200:], n_neighbors=3)
