"""
Train a small network on the digits and look at what it learned
===============================================================

Trains a 448-100-10 network of segregated-dendrite neurons (each pixel drives 7 input
neurons) on scikit-learn's 8x8 digits for five epochs with the fast (Numba) engine and the
paper's timing (paper-timing), writing a run
folder as ``dendrinet train`` does, then draws the analyses of :mod:`dendrinet.analysis`
from that folder: learning curves, the plateau potentials that drive the hidden layer's
learning, the angle between the learning rule's updates and backprop's, receptive fields
and the confusion matrix. At the end the scikit-learn estimator trains the same network
in memory and reaches the very same weights.

From the command line the training is::

    dendrinet train --model guerguiev2017-1hidden --dataset digits --epochs 5 --out runs/digits

(with the model's 500 hidden neurons; here 100 keep the example quick).
"""

# %%
# Train and write a run folder
# ----------------------------
# :func:`dendrinet.training.trainer.train` takes a model (a name, a file or a
# :class:`~dendrinet.config.ModelConfig`), a protocol, a data set and the folder to
# write. Here the shipped model gets a smaller hidden layer.
import dataclasses
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from dendrinet import analysis
from dendrinet.config import load_model
from dendrinet.training import train

model = load_model("guerguiev2017-1hidden")
model = dataclasses.replace(model, hidden=(100,))
run_dir = Path(tempfile.mkdtemp(prefix="dendrinet-gallery-")) / "digits"

summary = train(model, "paper-timing", "digits", run_dir, epochs=5, seed=0,
                progress="lines", n_spike_samples=10)
print(f"test error per epoch: {np.round(100 * summary.test_errors, 2)} %")
print(sorted(p.name for p in run_dir.iterdir()))

# %%
# Learning curves
# ---------------
# The test error after each epoch, and the online training error: the forward-phase
# predictions on the training examples while the weights learn.
curves = analysis.learning_curves(run_dir)
analysis.plot_learning_curves(curves)
plt.show()

# %%
# Plateau potentials
# ------------------
# The hidden layer learns from the difference between its apical plateau potentials in
# the target phase and in the forward phase, ``alpha_t - alpha_f``. The feedback from
# the output layer makes these differences class-specific; they shrink as the output
# comes to agree with the teaching signal.
plateaus = analysis.plateau_distributions(run_dir)
analysis.plot_plateau_differences(plateaus)
plt.show()

# %%
# Angle to backprop
# -----------------
# The angle between the hidden layer's update under the local rule and the update
# backpropagation would make (running mean over examples). Below 90 degrees the local
# rule moves the weights downhill.
analysis.plot_backprop_angle(analysis.backprop_angles(run_dir))
plt.show()

# %%
# Receptive fields and confusion matrix
# -------------------------------------
# The input weights of the first 36 hidden neurons, as 8x8 images, and how the test
# digits of the last epoch were classified.
fields = analysis.receptive_fields(run_dir, units=36)
analysis.plot_receptive_fields(fields, n_cols=9, title="first-layer receptive fields, epoch 5")
plt.show()

analysis.plot_confusion_matrix(analysis.confusion_matrix(run_dir))
plt.show()

# %%
# The same with the scikit-learn estimator
# ----------------------------------------
# :class:`~dendrinet.training.estimator.SegregatedDendriteClassifier` trains in memory. With the
# same model, protocol, data and seed it ends with exactly the weights the run folder
# holds for the same epoch.
from dendrinet.datasets import load_dataset
from dendrinet.training.estimator import SegregatedDendriteClassifier
from dendrinet.training.run_folder import Run

digits = load_dataset("digits")
clf = SegregatedDendriteClassifier(model=model, epochs=5, seed=0)
clf.fit(digits.X_train, digits.y_train)
print(f"estimator: test error {100 * (1 - clf.score(digits.X_test, digits.y_test)):.2f} %")
stored = Run.open(run_dir).weights(5)
print("same weights as the run folder:",
      all(np.array_equal(a, b) for a, b in zip(clf.params_.W, stored.W)))
