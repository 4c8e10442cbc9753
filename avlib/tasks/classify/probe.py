"""Linear probe of a trained encoder: how much class information its features hold on their own.

The OGM-GE paper evaluates the uni-modal encoders of a jointly trained model by "fixing the joint-trained
uni-modal encoder and finetuning a uni-modal classifier only"; a logistic regression on the frozen
features (scikit-learn) is that classifier.
"""

import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from avlib.data.loader import EVAL_BATCH_SIZE, make_loader


@torch.no_grad()
def encode(encoder, dataset, modality: str, device) -> tuple:
    encoder.eval()
    feats, labels = [], []
    for batch in make_loader(dataset, batch_size=EVAL_BATCH_SIZE, shuffle=False):
        feats.append(encoder(batch[modality].to(device)).float().cpu())
        labels.append(batch["label"])
    return torch.cat(feats).numpy(), torch.cat(labels).numpy()


def linear_probe(encoder, data: dict, modality: str, device="cpu", splits=("val", "test")) -> dict:
    """{split: accuracy} of one logistic regression fit on `encoder`'s frozen features of data["train"]."""
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    clf.fit(*encode(encoder, data["train"], modality, device))
    return {split: float(clf.score(*encode(encoder, data[split], modality, device))) for split in splits}
