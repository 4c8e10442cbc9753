"""A tiny in-memory QA dataset in the agreed item format (random features), for model and training tests."""

import torch

TYPES = ["Audio/Counting", "Audio/Comparative", "Visual/Counting", "Visual/Location", "Audio-Visual/Existential",
         "Audio-Visual/Counting", "Audio-Visual/Location", "Audio-Visual/Comparative", "Audio-Visual/Temporal"]
KEYS = ("audio", "visual", "question", "label", "type", "video")


class FakeQA:
    def __init__(self, n=32, *, hw=3, channels=512, n_answers=5, vocab=20, seed=0):
        g = torch.Generator().manual_seed(seed)
        self.audio = torch.randn(n, 10, 128, generator=g)
        self.visual = torch.randn(n, 10, channels, hw, hw, generator=g)
        self.question = torch.randint(1, vocab, (n, 14), generator=g)
        self.question[:, 6:] = 0
        self.question[0, 3:] = 0  # questions of different lengths
        self.label = torch.randint(0, n_answers, (n,), generator=g)
        self.type = torch.arange(n) % len(TYPES)
        self.video = torch.arange(n) // 2  # two questions per video
        tokens = ["<pad>", "<unk>", *[f"w{i}" for i in range(2, vocab)]]
        self.question_vocab = _Vocab(tokens)
        self.answer_vocab = _Vocab([f"a{i}" for i in range(n_answers)])
        self.types, self.n_answers = TYPES, n_answers

    def __len__(self):
        return len(self.label)

    def __getitems__(self, idx):
        return {k: getattr(self, k)[torch.as_tensor(idx)] for k in KEYS}

    def __getitem__(self, i):
        return {k: getattr(self, k)[i] for k in KEYS}


class _Vocab:
    def __init__(self, tokens):
        self.tokens = tokens

    def __len__(self):
        return len(self.tokens)

    def decode_question(self, ids):
        return [self.tokens[i] for i in ids if i != 0]


def fake_splits(**kwargs) -> dict:
    return {split: FakeQA(seed=i, **kwargs) for i, split in enumerate(("train", "val", "test"))}
