"""The QA baselines of MUSIC-AVQA's Table 3, each a REDUCED reimplementation on the same features as AVST
(VGGish-like audio [B, T, 128], ResNet-18-like maps [B, T, 512, h, w], questions [B, L]), at width H.

    FCNLSTM-lite (AudioQA; Fayek & Johnson 2020): a fully convolutional net over the audio segments (GroupNorm
        for its BatchNorm, so that any batch size works), max-pooled, ++ the question LSTM state -> MLP. (The
        original runs its FCN on spectrograms.)
    GRU-lite (VisualQA; Antol et al. 2015, the VQA GRU variant): question GRU state * the frames' pooled
        visual vector -> MLP.
    MCAN-lite (VisualQA; Yu et al. 2019): ONE encoder-decoder layer (MCAN: 6) of question self-attention and
        question-guided attention over the visual positions of the time-averaged map, attentional reduction
        of both, sum -> LayerNorm -> answers.
    PSAC-lite (VideoQA; Li et al. 2019): positional self-attention over the T segment vectors and over the
        question words, video-question co-attention, attended video ++ question -> MLP (one block; the original
        stacks several and adds character embeddings).
    AVSD-lite (AVQA; Schwartz et al. 2019, "A simple baseline for audio-visual scene-aware dialog"): question-
        guided attention pooling over the audio segments and over the visual segments, ++ question -> MLP.

Inputs follow each method's family: the AudioQA model sees audio only, the VisualQA and VideoQA models the
frames only, the AVQA models both. Each returns `avst.QAOutput` (attention weights where it has them).
"""

import torch
from torch import nn

from avlib.models.avst import AudioEncoder, QAOutput, QuestionEncoder, visual_positions


def answer_mlp(d_in: int, hidden: int, n_answers: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU(), nn.Dropout(0.1), nn.Linear(hidden, n_answers))


def masked_softmax(scores, mask):
    """softmax over the last axis where mask is True ([..., N] both)."""
    return torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)


class FCNLSTMLite(nn.Module):
    """FCNLSTM-lite (AudioQA, reduced): Conv1d stack over the T audio segments, global max pool ++ question."""

    def __init__(self, *, vocab_size: int, n_answers: int, hidden: int = 512, audio_dim: int = 128,
                 visual_dim: int = 512):
        super().__init__()
        self.question = QuestionEncoder(vocab_size=vocab_size, hidden=hidden)
        self.fcn = nn.Sequential(nn.Conv1d(audio_dim, hidden, 3, padding=1), nn.GroupNorm(1, hidden), nn.ReLU(),
                                 nn.Conv1d(hidden, hidden, 3, padding=1), nn.GroupNorm(1, hidden), nn.ReLU())
        self.head = answer_mlp(2 * hidden, hidden, n_answers)

    def forward(self, audio, visual, question, video=None, generator=None) -> QAOutput:
        q = self.question(question)  # [B, H]
        a = self.fcn(audio.transpose(1, 2)).amax(-1)  # [B, H, T] -> [B, H]
        return QAOutput(logits=self.head(torch.cat([a, q], dim=-1)))


class GRULite(nn.Module):
    """GRU-lite (VisualQA, reduced): question GRU * pooled frames (space and time) -> MLP."""

    def __init__(self, *, vocab_size: int, n_answers: int, hidden: int = 512, audio_dim: int = 128,
                 visual_dim: int = 512):
        super().__init__()
        self.question = QuestionEncoder(vocab_size=vocab_size, hidden=hidden, cell="gru")
        self.visual = nn.Linear(visual_dim, hidden)
        self.head = answer_mlp(hidden, hidden, n_answers)

    def forward(self, audio, visual, question, video=None, generator=None) -> QAOutput:
        q = self.question(question)
        v = torch.tanh(self.visual(visual.float().mean((1, 3, 4))))  # [B, H]
        return QAOutput(logits=self.head(torch.tanh(q) * v))


class AttentionalReduce(nn.Module):
    """MCAN's attentional reduction: an MLP scores each token, softmax, weighted sum, linear."""

    def __init__(self, hidden: int):
        super().__init__()
        self.score = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1))
        self.out = nn.Linear(hidden, hidden)

    def forward(self, x, mask):  # [B, N, H], [B, N] -> [B, H], weights [B, N]
        w = masked_softmax(self.score(x)[..., 0], mask)
        return self.out(torch.einsum("bn,bnh->bh", w, x)), w


class MCANLite(nn.Module):
    """MCAN-lite (VisualQA, reduced to one encoder-decoder layer): self-attention (SA) on the question words;
    SA then question-guided attention (GA) on the positions of the time-averaged visual map; reduce and sum."""

    def __init__(self, *, vocab_size: int, n_answers: int, hidden: int = 512, audio_dim: int = 128,
                 visual_dim: int = 512, heads: int = 4):
        super().__init__()
        self.question = QuestionEncoder(vocab_size=vocab_size, hidden=hidden)
        self.visual = nn.Linear(visual_dim, hidden)
        self.q_self = nn.TransformerEncoderLayer(hidden, heads, 2 * hidden, 0.1, batch_first=True)
        self.v_self = nn.MultiheadAttention(hidden, heads, dropout=0.1, batch_first=True)
        self.v_guided = nn.MultiheadAttention(hidden, heads, dropout=0.1, batch_first=True)
        self.v_norm1, self.v_norm2 = nn.LayerNorm(hidden), nn.LayerNorm(hidden)
        self.q_reduce, self.v_reduce = AttentionalReduce(hidden), AttentionalReduce(hidden)
        self.norm = nn.LayerNorm(hidden)
        self.answer = nn.Linear(hidden, n_answers)

    def forward(self, audio, visual, question, video=None, generator=None) -> QAOutput:
        _, words, mask = self.question(question, words=True)  # [B, L, H], [B, L]
        words = self.q_self(words, src_key_padding_mask=~mask)
        v = self.visual(visual.float().mean(1).flatten(2).transpose(1, 2))  # [B, h*w, H]
        v = self.v_norm1(v + self.v_self(v, v, v)[0])
        v = self.v_norm2(v + self.v_guided(v, words, words, key_padding_mask=~mask)[0])
        q_vec, _ = self.q_reduce(words, mask)
        v_vec, w = self.v_reduce(v, torch.ones(v.shape[:2], dtype=torch.bool))
        return QAOutput(logits=self.answer(self.norm(q_vec + v_vec)), attention={"spatial_pooled": w})


class PSACLite(nn.Module):
    """PSAC-lite (VideoQA, reduced to one block): positional self-attention over the T segment vectors and
    over the question words, then video-question co-attention (question-guided attention over segments)."""

    def __init__(self, *, vocab_size: int, n_answers: int, hidden: int = 512, audio_dim: int = 128,
                 visual_dim: int = 512, heads: int = 4, segments: int = 64):
        super().__init__()
        self.question = QuestionEncoder(vocab_size=vocab_size, hidden=hidden)
        self.visual = nn.Linear(visual_dim, hidden)
        self.position = nn.Embedding(segments, hidden)  # learned positions of the segments
        self.v_self = nn.TransformerEncoderLayer(hidden, heads, 2 * hidden, 0.1, batch_first=True)
        self.q_self = nn.TransformerEncoderLayer(hidden, heads, 2 * hidden, 0.1, batch_first=True)
        self.co = nn.MultiheadAttention(hidden, heads, dropout=0.1, batch_first=True)
        self.head = answer_mlp(2 * hidden, hidden, n_answers)

    def forward(self, audio, visual, question, video=None, generator=None) -> QAOutput:
        q, words, mask = self.question(question, words=True)
        t = visual.shape[1]
        v = self.visual(visual.float().mean((3, 4))) + self.position(torch.arange(t))  # [B, T, H]
        v = self.v_self(v)
        words = self.q_self(words, src_key_padding_mask=~mask)
        q_vec = (words * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)  # [B, H]
        attended, w = self.co(q_vec[:, None], v, v)  # question-guided over the segments
        return QAOutput(logits=self.head(torch.cat([attended[:, 0], q_vec + q], dim=-1)),
                        attention={"temporal_visual": w[:, 0]})


class GuidedPool(nn.Module):
    """Question-guided additive attention pooling over segments: [B, T, H] -> [B, H], weights [B, T]."""

    def __init__(self, hidden: int):
        super().__init__()
        self.key, self.query = nn.Linear(hidden, hidden), nn.Linear(hidden, hidden)
        self.score = nn.Linear(hidden, 1)

    def forward(self, q, x):
        w = torch.softmax(self.score(torch.tanh(self.key(x) + self.query(q)[:, None]))[..., 0], dim=-1)
        return torch.einsum("bt,bth->bh", w, x), w


class AVSDLite(nn.Module):
    """AVSD-lite (AVQA, reduced): question-guided attention pooling over the audio segments and over the
    (spatially pooled) visual segments, ++ the question -> MLP."""

    def __init__(self, *, vocab_size: int, n_answers: int, hidden: int = 512, audio_dim: int = 128,
                 visual_dim: int = 512):
        super().__init__()
        self.question = QuestionEncoder(vocab_size=vocab_size, hidden=hidden)
        self.audio = AudioEncoder(audio_dim=audio_dim, hidden=hidden)
        self.visual = nn.Linear(visual_dim, hidden)
        self.audio_pool, self.visual_pool = GuidedPool(hidden), GuidedPool(hidden)
        self.head = answer_mlp(3 * hidden, hidden, n_answers)

    def forward(self, audio, visual, question, video=None, generator=None) -> QAOutput:
        q = self.question(question)
        a, wa = self.audio_pool(q, self.audio(audio))
        v, wv = self.visual_pool(q, visual_positions(visual, self.visual).mean(2))
        return QAOutput(logits=self.head(torch.cat([a, v, q], dim=-1)),
                        attention={"temporal_audio": wa, "temporal_visual": wv})


# name -> (class, the paper's method it reduces, its family in Table 3)
BASELINES = {
    "fcnlstm_lite": (FCNLSTMLite, "FCNLSTM", "AudioQA"),
    "gru_lite": (GRULite, "GRU", "VisualQA"),
    "mcan_lite": (MCANLite, "MCAN", "VisualQA"),
    "psac_lite": (PSACLite, "PSAC", "VideoQA"),
    "avsd_lite": (AVSDLite, "AVSD", "AVQA"),
}
