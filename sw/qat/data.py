"""The digits data set (scikit-learn's bundled copy: 1,797 8 x 8 images, pixels 0..16)
and its fixed, stratified train / held-out split."""

import numpy as np

__all__ = ["digits_split"]


def digits_split(test_size=0.25, seed=0):
    """``(x_train, y_train, x_test, y_test)``: inputs (N, 1, 8, 8) float64, the real
    values pixel / 16 (exact in binary), labels int64 (N,)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    digits = load_digits()
    x = digits.images.astype(np.float64)[:, None] / 16.0
    y = digits.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=test_size, stratify=y,
                                              random_state=seed)
    return x_tr, y_tr, x_te, y_te
