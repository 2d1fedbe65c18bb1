"""
======================================================================
What LEEP and NCE measure: the joint table of source and target labels
======================================================================

LEEP (Nguyen et al., ICML 2020) and NCE (Tran et al., ICCV 2019) do not look
at features: they look at the **source model's predictions** on the target
data, in the source model's own label space (for an ImageNet model, the 1000
ImageNet classes). Both build the empirical joint distribution of the
predicted source label ``z`` and the true target label ``y``:

- **NCE** uses the hard predictions (the argmax ``z_i``) and is minus the
  conditional entropy, ``NCE = -H(Y | Z)``: it is 0 when the source label
  determines the target label, and ``-log C_t`` when it says nothing;
- **LEEP** uses the soft predictions ``theta_i`` (probabilities), builds the
  conditional ``P(y | z)`` from them, and scores the log-likelihood of the
  target labels under the "expected empirical predictor"
  ``sum_j theta_ij P(y | z = j)``: a classifier obtained from the source
  model without any training.

Here the source task is "which digit is it?" (10 classes) and the target task
groups the digits into three classes. Two source models are compared: one
that sees the whole image and one that sees only its top two rows of pixels.
"""

# %%
# Source models and a target task
# -------------------------------
#
# The source models are logistic regressions trained on one half of
# scikit-learn's digits; the target data are the other half, with the labels
# *loops* (0, 6, 8, 9), *straight* (1, 4, 7) and *other* (2, 3, 5).

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sktransfer.metrics import LEEP, NCE

X, digit = load_digits(return_X_y=True)
X_source, X_target, digit_source, digit_target = train_test_split(
    X, digit, test_size=0.5, stratify=digit, random_state=0
)
groups = np.array(["loops", "straight", "other"])
group_of_digit = np.array([0, 1, 2, 2, 1, 2, 0, 1, 0, 0])
y = groups[group_of_digit[digit_target]]

pixels = {"whole image": slice(None), "top two rows": slice(0, 16)}
probabilities = {}
for name, cols in pixels.items():
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    model.fit(X_source[:, cols], digit_source)
    probabilities[name] = model.predict_proba(X_target[:, cols])
    accuracy = model.score(X_target[:, cols], digit_target)
    print(f"source model on the {name}: digit accuracy {accuracy:.3f}")

# %%
# The joint table
# ---------------
#
# ``LEEP().fit(theta, y).joint_`` is the table ``P(z = j, y = c)``: row ``j``
# is a source class (a digit), column ``c`` a target class. A transferable
# source concentrates each row in one column: knowing the source prediction,
# the target label is nearly certain.

fig, axes = plt.subplots(1, 2, figsize=(8, 4.5), layout="constrained", sharey=True)
for ax, (name, theta) in zip(axes, probabilities.items(), strict=True):
    leep = LEEP().fit(theta, y)
    nce = NCE().fit(theta, y)  # hard labels: the argmax of theta
    im = ax.imshow(leep.joint_, cmap="Blues", vmin=0, vmax=0.12, aspect="auto")
    ax.set(
        xticks=range(3),
        xticklabels=leep.classes_,
        yticks=range(10),
        xlabel="target class y",
    )
    ax.set_title(
        f"{name}\nLEEP = {leep.score_:.3f}, NCE = {nce.score_:.3f}", fontsize="medium"
    )
axes[0].set_ylabel("source class z (predicted digit)")
fig.colorbar(im, ax=axes, shrink=0.7, label="P(z, y)")
plt.show()

# %%
# With the whole image, each digit row has almost all its mass in the column
# of its group. With the top two rows only, the source model confuses digits,
# the rows spread over several groups, and both LEEP and NCE drop.
#
# The conditional table and the bounds
# ------------------------------------
#
# ``conditional_`` normalises each row into ``P(y | z = j)``. NCE is bounded by
# ``-log C_t`` (a source that says nothing: every row equals the class
# frequencies) and 0. We check both ends: shuffled target labels break the
# link between ``z`` and ``y``, and labels that are a function of the
# predicted digit make the table deterministic.

rng = np.random.default_rng(0)
theta = probabilities["whole image"]
z = theta.argmax(axis=1)  # hard source labels (NCE also accepts them directly)
cases = {
    "true groups": y,
    "shuffled groups": rng.permutation(y),
    "group of the predicted digit": groups[group_of_digit[z]],
}
print(f"{'target labels':>30} {'LEEP':>8} {'NCE':>8}")
for label, target in cases.items():
    print(
        f"{label:>30} {LEEP().fit(theta, target).score_:8.3f} "
        f"{NCE().fit(z, target).score_:8.3f}"
    )
print(f"{'bound -log(3)':>30} {'':>8} {-np.log(3):8.3f}")

fig, axes = plt.subplots(1, 3, figsize=(10, 4), layout="constrained", sharey=True)
for ax, (label, target) in zip(axes, cases.items(), strict=True):
    leep = LEEP().fit(theta, target)
    ax.imshow(leep.conditional_, cmap="Greens", vmin=0, vmax=1, aspect="auto")
    ax.set(xticks=range(3), xticklabels=leep.classes_, yticks=range(10))
    ax.set_title(label, fontsize="medium")
axes[0].set_ylabel("source class z")
fig.suptitle("P(y | z): the classifier LEEP builds from the source model")
plt.show()

# %%
# LEEP stays below 0 even for a deterministic relation, because the source
# model's probabilities are not one-hot: it measures the log-likelihood of
# the soft predictor, while NCE only counts the hard labels. Both are cheap
# (one pass over the predictions, ``O(N C_s)``) and need a classifier head
# trained on a labelled source task; feature-based metrics such as
# :class:`~sktransfer.metrics.NLEEP` replace the head by a Gaussian mixture
# fitted on the features.
