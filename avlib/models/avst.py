"""AVST: the spatio-temporal grounding network of MUSIC-AVQA (Li et al., "Learning to Answer Questions in
Dynamic Audio-Visual Scenarios", CVPR 2022, Sec. 4, Fig. 3), reimplemented from the paper (layer sizes as in
the authors' released code, read for facts only).

    question [B, L] --embed, tanh, LSTM--> (h, c) --tanh, linear--> q [B, H]              (Sec. 4.1)
    audio [B, T, 128] --linear, ReLU, linear--> a [B, T, H]
    visual [B, T, 512, h, w]  (ResNet-18 maps)
    spatial grounding (Sec. 4.2): per segment, softmax over the h*w positions of cos(visual, audio);
        the attended normalised visual vector ++ the average-pooled one --tanh, linear--> v [B, T, H]
    temporal grounding (Sec. 4.3): MultiheadAttention(q over the T segments) for audio and for visual,
        FFN + residual + LayerNorm, plus the temporal mean of its input
    fusion (Sec. 4.4): [a ++ v] --tanh, linear--> * q --tanh, linear--> answer logits
    audio-visual matching (Sec. 4.2, Eq. 2): per segment, (audio, grounded own frame) vs (audio, grounded
        frame of ANOTHER video) classified matched / not; loss = QA + 0.5 * matching

The ablation of the paper's Table 5 is a set of switches: `audio`, `visual` (which modalities enter the
fusion), `temporal` (TG; off: the temporal mean), `spatial` (SG, with its matching head; off: the average-pooled
frame). A switch that is off builds no module: a model without SG has no spatial-grounding or matching
parameters at all (`ablation_row` names each row of the table).

Beside the faithful model, one labelled variant (`VARIANTS`, never under AVST's name): the published spatial
softmax has no temperature, so over cosines in [-1, 1] its largest weight is at most e^2 ~ 7.4x its smallest,
and over 16 positions it stays near uniform. "AV+Q+TG+SG, learned temperature" multiplies the cosines by a
learned scale s = exp(log_s), initialised and capped as CLIP's logit scale (1/0.07, at most 100).
"""

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

# Table 5's rows -> switches (matching belongs to SG: it trains the spatial grounding's audio-visual cosines)
ABLATION_ROWS = {
    "Q": dict(audio=False, visual=False, temporal=False, spatial=False),
    "A+Q": dict(audio=True, visual=False, temporal=False, spatial=False),
    "V+Q": dict(audio=False, visual=True, temporal=False, spatial=False),
    "AV+Q": dict(audio=True, visual=True, temporal=False, spatial=False),
    "AV+Q+TG": dict(audio=True, visual=True, temporal=True, spatial=False),
    "AV+Q+TG+SG": dict(audio=True, visual=True, temporal=True, spatial=True),
}
LEARNED_TEMPERATURE = "AV+Q+TG+SG, learned temperature"
VARIANTS = {LEARNED_TEMPERATURE: dict(ABLATION_ROWS["AV+Q+TG+SG"], spatial_temperature="learned")}
CLIP_INITIAL_SCALE, CLIP_MAX_SCALE = 1 / 0.07, 100.0  # Radford et al. 2021, Sec. 2.5


@dataclass
class QAOutput:
    logits: torch.Tensor  # [B, n_answers]
    match_logits: torch.Tensor | None = None  # [2*B*T, 2]: positives first, then negatives
    match_labels: torch.Tensor | None = None  # [2*B*T]: 1 matched, 0 not
    attention: dict = field(default_factory=dict)  # "spatial" [B, T, h*w], "temporal_audio"/"temporal_visual" [B, T]


class QuestionEncoder(nn.Module):
    """Word embedding, tanh, one-layer LSTM; the final (h, c) concatenated -> tanh -> linear (Sec. 4.1)."""

    def __init__(self, *, vocab_size: int, hidden: int, embed: int | None = None, cell: str = "lstm"):
        super().__init__()
        embed = embed or hidden
        self.embed = nn.Embedding(vocab_size, embed, padding_idx=0)
        self.cell = cell
        self.rnn = (nn.LSTM if cell == "lstm" else nn.GRU)(embed, hidden, batch_first=True)
        self.out = nn.Linear(2 * hidden if cell == "lstm" else hidden, hidden)

    def forward(self, question: torch.Tensor, *, words: bool = False):
        # question [B, L], 0 = pad at the end; packing gives each question the state at its own last word
        lengths = (question != 0).sum(1).clamp(min=1).cpu()
        x = torch.tanh(self.embed(question))  # [B, L, E]
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        seq, state = self.rnn(packed)
        if self.cell == "lstm":
            h, c = state
            final = torch.cat([h[-1], c[-1]], dim=-1)  # [B, 2H]
        else:
            final = state[-1]  # [B, H]
        q = self.out(torch.tanh(final))  # [B, H]
        if not words:
            return q
        seq, _ = nn.utils.rnn.pad_packed_sequence(seq, batch_first=True, total_length=question.shape[1])
        return q, seq, question != 0  # [B, H], [B, L, H], mask [B, L]


class AudioEncoder(nn.Module):
    """VGGish 128 -> H -> ReLU -> H, per segment."""

    def __init__(self, *, audio_dim: int, hidden: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(audio_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden))

    def forward(self, audio):  # [B, T, 128] -> [B, T, H]
        return self.net(audio)


def visual_positions(visual: torch.Tensor, project: nn.Module) -> torch.Tensor:
    """[B, T, C, h, w] -> [B, T, h*w, H]: one vector per position (projected when C != H: the width knob)."""
    b, t, c, h, w = visual.shape
    return project(visual.float().flatten(3).transpose(2, 3))


class SpatialGrounding(nn.Module):
    """Sound-aware spatial attention per segment (Sec. 4.2, Eq. 1): softmax over positions of the dot
    products of the L2-normalised audio and visual vectors; the attended normalised visual vector ++ the
    average-pooled visual vector -> tanh -> linear 2H -> H. temperature "learned" (a variant, not the paper's):
    the cosines times a learned scale, CLIP's init and cap."""

    def __init__(self, *, hidden: int, temperature: str = "none"):
        super().__init__()
        if temperature not in ("none", "learned"):
            raise ValueError(f"SpatialGrounding: temperature must be 'none' or 'learned', got {temperature!r}")
        self.out = nn.Linear(2 * hidden, hidden)
        self.log_scale = nn.Parameter(torch.tensor(math.log(CLIP_INITIAL_SCALE))) if temperature == "learned" else None

    def scale(self) -> torch.Tensor | None:
        """The learned scale on the cosines (None: the paper's softmax, scale 1)."""
        return None if self.log_scale is None else self.log_scale.exp().clamp(max=CLIP_MAX_SCALE)

    def forward(self, positions, audio):
        # positions [B, T, N, H], audio [B, T, H]
        v = F.normalize(positions, dim=-1)
        a = F.normalize(audio, dim=-1)
        cosines = torch.einsum("btnh,bth->btn", v, a)
        if self.log_scale is not None:
            cosines = cosines * self.scale()
        weights = torch.softmax(cosines, dim=-1)  # [B, T, N], sums to 1 over N
        attended = torch.einsum("btn,btnh->bth", weights, v)  # [B, T, H]
        pooled = positions.mean(2)  # [B, T, H]
        return self.out(torch.tanh(torch.cat([attended, pooled], dim=-1))), weights


class TemporalGrounding(nn.Module):
    """Question-guided temporal attention (Sec. 4.3): MultiheadAttention with the question as the query over
    the T segments, FFN (ReLU, dropout), residual + dropout, LayerNorm; the caller adds the temporal mean."""

    def __init__(self, *, hidden: int, heads: int, dropout: float):
        super().__init__()
        self.attn = nn.MultiheadAttention(hidden, heads, dropout=dropout, batch_first=True)
        self.ffn = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, hidden))
        self.dropout = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(hidden)

    def forward(self, question, segments):
        # question [B, H], segments [B, T, H]
        attended, weights = self.attn(question[:, None], segments, segments)  # [B, 1, H], [B, 1, T] (head mean)
        attended = attended[:, 0]
        attended = self.norm(attended + self.dropout(self.ffn(attended)))  # [B, H]
        return attended, weights[:, 0]  # [B, H], [B, T] (sums to 1 over T)


class MatchingHead(nn.Module):
    """Matched vs not matched from [audio ++ grounded visual] of one segment (Sec. 4.2, Eq. 2)."""

    def __init__(self, *, hidden: int):
        super().__init__()
        small = max(hidden // 8, 2)
        self.net = nn.Sequential(nn.Linear(2 * hidden, hidden // 2), nn.ReLU(), nn.Linear(hidden // 2, small),
                                 nn.ReLU(), nn.Linear(small, 2))

    def forward(self, audio, visual):  # [M, H], [M, H] -> [M, 2]
        return self.net(torch.tanh(torch.cat([audio, visual], dim=-1)))


def other_video_indices(video: torch.Tensor, n_segments: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """[B, T] indices j into the batch with video[j] != video[i]: each segment's negative comes from another
    video, drawn uniformly among the batch's other videos. Raises when the batch holds a single video."""
    same = video[:, None] == video[None, :]  # [B, B]
    if bool(same.all()):
        raise ValueError("audio-visual matching needs a batch with at least two different videos")
    scores = torch.rand((len(video), n_segments, len(video)), generator=generator)
    scores = scores.masked_fill(same[:, None, :], -1.0)  # never the same video
    return scores.argmax(-1)  # [B, T]


class AVST(nn.Module):
    """AVST and its ablations (switches: `audio`, `visual`, `temporal`, `spatial`; see the module docstring)."""

    def __init__(self, *, vocab_size: int, n_answers: int, hidden: int = 512, audio_dim: int = 128,
                 visual_dim: int = 512, audio: bool = True, visual: bool = True, temporal: bool = True,
                 spatial: bool = True, heads: int = 4, dropout: float = 0.1, spatial_temperature: str = "none"):
        super().__init__()
        if spatial and not (audio and visual):
            raise ValueError("AVST: spatial grounding (spatial=True) needs audio=True and visual=True")
        if temporal and not (audio or visual):
            raise ValueError("AVST: temporal grounding (temporal=True) needs audio or visual")
        self.use_audio, self.use_visual, self.temporal, self.spatial = audio, visual, temporal, spatial
        self.question = QuestionEncoder(vocab_size=vocab_size, hidden=hidden)
        if audio:
            self.audio = AudioEncoder(audio_dim=audio_dim, hidden=hidden)
        if visual:
            # the paper's H = 512 = ResNet-18's channels: no projection; a narrower width projects first
            self.visual_proj = nn.Identity() if visual_dim == hidden else nn.Linear(visual_dim, hidden)
        if spatial:
            self.spatial_grounding = SpatialGrounding(hidden=hidden, temperature=spatial_temperature)
            self.matching = MatchingHead(hidden=hidden)
        if temporal:
            if audio:
                self.temporal_audio = TemporalGrounding(hidden=hidden, heads=heads, dropout=dropout)
            if visual:
                self.temporal_visual = TemporalGrounding(hidden=hidden, heads=heads, dropout=dropout)
        n_inputs = int(audio) + int(visual)
        self.fusion = nn.Linear(n_inputs * hidden, hidden) if n_inputs else None
        self.answer = nn.Linear(hidden, n_answers)

    def _over_time(self, question, segments, grounding):
        """[B, H]: temporal grounding plus the temporal mean (TG), or the temporal mean alone."""
        mean = segments.mean(1)
        if not self.temporal:
            return mean, None
        attended, weights = grounding(question, segments)
        return attended + mean, weights

    def forward(self, audio, visual, question, video=None, generator=None) -> QAOutput:
        q = self.question(question)  # [B, H]
        attention, parts, match_logits, match_labels = {}, [], None, None
        a = self.audio(audio) if self.use_audio else None  # [B, T, H]
        if self.use_audio:
            a_time, w = self._over_time(q, a, getattr(self, "temporal_audio", None))
            parts.append(a_time)
            if w is not None:
                attention["temporal_audio"] = w
        if self.use_visual:
            if self.spatial:
                positions = visual_positions(visual, self.visual_proj)  # [B, T, N, H]
                v, spatial_w = self.spatial_grounding(positions, a)  # [B, T, H], [B, T, N]
                attention["spatial"] = spatial_w
            else:  # average-pooled frame; pooling before the (linear) projection gives the same vector, cheaper
                v = self.visual_proj(visual.float().mean((3, 4)))  # [B, T, H]
            v_time, w = self._over_time(q, v, getattr(self, "temporal_visual", None))
            parts.append(v_time)
            if w is not None:
                attention["temporal_visual"] = w
            if self.spatial and self.training and video is not None:
                match_logits, match_labels = self._matching(positions, a, v, video, generator)
        if parts:
            fused = self.fusion(torch.tanh(torch.cat(parts, dim=-1))) * q  # [B, H]
        else:  # Q: the question alone
            fused = q
        logits = self.answer(torch.tanh(fused))
        return QAOutput(logits=logits, match_logits=match_logits, match_labels=match_labels, attention=attention)

    def _matching(self, positions, a, v, video, generator):
        """Positives: (audio_t, its own grounded frame); negatives: (audio_t, a grounded frame t of another
        video of the batch). [2*B*T, 2] logits, [2*B*T] labels."""
        b, t = a.shape[:2]
        j = other_video_indices(video, t, generator)  # [B, T]
        negative_positions = positions[j, torch.arange(t)[None, :]]  # [B, T, N, H]
        v_negative, _ = self.spatial_grounding(negative_positions, a)
        audio_pairs = torch.cat([a, a]).flatten(0, 1)  # [2*B*T, H]
        visual_pairs = torch.cat([v, v_negative]).flatten(0, 1)
        labels = torch.cat([torch.ones(b * t), torch.zeros(b * t)]).long()
        return self.matching(audio_pairs, visual_pairs), labels


def ablation_row(row: str, **kwargs) -> AVST:
    """The AVST variant of Table 5's row `row` (one of ABLATION_ROWS), or a labelled variant (VARIANTS)."""
    switches = ABLATION_ROWS | VARIANTS
    if row not in switches:
        raise ValueError(f"unknown ablation row {row!r}; expected one of {list(switches)}")
    return AVST(**switches[row], **kwargs)
