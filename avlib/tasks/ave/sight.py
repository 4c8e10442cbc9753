"""Does sight carry the event's class? A model-free check of a segment dataset (AVE's format), read before any
model is asked to use its frames.

A linear probe on the frames' features names the class of each event segment (heard and seen, label != the
background label, the last): the visual features are mean-pooled over their 7x7 grid, standardized on train, and a
ridge regression onto one-hot targets is fit on train's event segments and scored on val's. Chance is one over
the number of event classes. When the probe sits at chance the frames only say whether something is seen, not
what: a visual branch can then gate (background or not) but never name the class, whatever the model.

Float64 numpy with a closed-form solve: the same bits on every machine, no iteration count to choose."""

import numpy as np

RIDGE = 1.0  # on standardized features; the probe reads whether a linear readout exists, not its best tuning


def event_features(dataset) -> tuple[np.ndarray, np.ndarray]:
    """(features (n_events, channels) float64, labels (n_events,)) of the event segments of a split."""
    labels = dataset.label.numpy()
    event = labels != dataset.n_classes - 1
    pooled = np.stack([dataset.visual[i].float().mean((1, 2)).double().numpy() for i in range(len(labels))])
    return pooled[event], labels[event]


def sight_probe(train, val) -> dict:
    """{"accuracy", "chance", "n_train", "n_val"}: the probe's val accuracy on event segments (fractions)."""
    x_train, y_train = event_features(train)
    x_val, y_val = event_features(val)
    n_events = train.n_classes - 1
    if len(y_train) == 0 or len(y_val) == 0:
        raise ValueError(f"sight probe: no event segment in {'train' if len(y_train) == 0 else 'val'} "
                         "(every label is the background label)")
    mu, sd = x_train.mean(0), x_train.std(0) + 1e-6
    z_train, z_val = (x_train - mu) / sd, (x_val - mu) / sd
    targets = np.eye(n_events)[y_train]
    gram = z_train.T @ z_train + RIDGE * np.eye(z_train.shape[1])
    weights = np.linalg.solve(gram, z_train.T @ (targets - targets.mean(0)))
    predicted = (z_val @ weights).argmax(1)
    return {"accuracy": float((predicted == y_val).mean()), "chance": 1.0 / n_events,
            "n_train": int(len(y_train)), "n_val": int(len(y_val))}
