"""The base of the datasets held in memory (AV-Digits, AV-Digits clips, AVE/AV-Events): `audio`, `visual` and
`label` tensors whose first dimension is the sample; an item by indexing, a whole batch in one gather per
tensor (`__getitems__`: what `avlib.data.loader` and the batched engine use to skip per-item collation)."""

import torch


class InMemoryAV(torch.utils.data.Dataset):
    audio: torch.Tensor
    visual: torch.Tensor
    label: torch.Tensor

    def __len__(self) -> int:
        return len(self.label)

    def __getitem__(self, i):
        return {"audio": self.audio[i], "visual": self.visual[i], "label": self.label[i]}

    def __getitems__(self, indices):
        """A whole batch in one gather per tensor (indices: a list or a LongTensor)."""
        idx = torch.as_tensor(indices)
        return {"audio": self.audio[idx], "visual": self.visual[idx], "label": self.label[idx]}
