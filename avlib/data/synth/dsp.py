"""Machine-independent signal processing for the embedded-data generators: the same bytes on every CPU.

Library kernels that are picked at load time by CPU make generated data differ in the last bits from one
machine to the next, and a last bit is a new DVC hash. Measured on one machine by emulating others
(tests/test_cross_cpu.py; the report of the commit that added this module):
  - torch's MKL: the FFT of MelSpectrogram, the sgemm of its mel filterbank and of torchaudio's Resample, and
    LAPACK's QR take other code paths on an Intel CPU than on an AMD one (AVX-512 or not);
  - oneDNN's convolutions: other kernels on an AVX2 CPU than on an AVX-512 one;
  - torch's float32 reductions (`mean()`, `std()`): another result with another thread count;
  - numpy's float64 exp, log, log10, power: other SIMD code on an AVX-512 CPU than on an AVX2 one;
  - OpenBLAS's sgemm: other kernels per core type (pinned by avlib/blas.py, but a pin can be overridden).
So everything here is float64 numpy built from operations whose result IEEE 754 fixes whatever the vector
width (+, -, *, /, sqrt, rint, frexp, ldexp, casts), in a fixed order, on one thread: numpy's pocketfft
(no runtime dispatch), `np.sum` (pairwise, in a fixed order), scipy's `resample_poly` (upfirdn in C).
Transcendentals are written out as polynomials (`log`, `exp`) rather than taken from numpy. Convolutions of
the fixed random feature extractors run on values rounded to a grid so fine that every product and partial
sum of float64 is exact (`exact_conv2d`): no kernel, order or thread count can change an exact result.
"""

import math

import numpy as np
import torch
from scipy.signal import resample_poly

_LN2_HI = 6.93147180369123816490e-01  # ln 2 split so that k * _LN2_HI is exact for |k| < 2**20 (fdlibm)
_LN2_LO = 1.90821492927058770002e-10
_LN2 = math.log(2.0)


def log(x) -> np.ndarray:
    """Natural log of positive float64 values, to ~1 ulp, from IEEE basic operations only.

    x = m * 2**e with m in [sqrt(1/2), sqrt(2)); log m = 2 atanh(s), s = (m - 1) / (m + 1), |s| < 0.172,
    summed as its series to s**23 (next term < 1e-18 of the result)."""
    m, e = np.frexp(np.asarray(x, np.float64))
    small = m < math.sqrt(0.5)
    m = np.where(small, m * 2.0, m)
    e = e - small
    s = (m - 1.0) / (m + 1.0)
    s2 = s * s
    p = np.full_like(s, 1.0 / 23.0)
    for k in range(21, 0, -2):
        p = p * s2 + 1.0 / k
    return e * _LN2_HI + (2.0 * s * p + e * _LN2_LO)


def exp(x) -> np.ndarray:
    """e**x of float64 values (|x| < 700), to ~1 ulp, from IEEE basic operations only: x = k ln 2 + r with
    |r| <= ln 2 / 2, e**r as its Taylor series to r**17 (Horner), times 2**k."""
    x = np.asarray(x, np.float64)
    k = np.rint(x / _LN2)
    r = (x - k * _LN2_HI) - k * _LN2_LO
    p = np.full_like(r, 1.0 / math.factorial(17))
    for n in range(16, -1, -1):
        p = p * r + 1.0 / math.factorial(n)
    return np.ldexp(p, k.astype(np.int64))


def db_to_power(db) -> np.ndarray:
    """10 ** (db / 10), as `exp`."""
    return exp(np.asarray(db, np.float64) * (math.log(10.0) / 10.0))


def mean_std(x, axis=None, chunk: int = 1 << 22):
    """(mean, unbiased std) in float64 with a fixed order, as Python floats when `axis` is None (summed in
    chunks of `chunk` values, in order, each chunk by numpy's pairwise sum: no float64 copy of the whole), else
    float64 arrays over the axes that remain."""
    a = x.numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    if axis is not None:
        a = a.astype(np.float64)
        n = math.prod(a.shape[i] for i in np.atleast_1d(axis))
        mean = a.sum(axis=axis, keepdims=True) / n
        std = np.sqrt(((a - mean) ** 2).sum(axis=axis, keepdims=True) / (n - 1))
        return np.squeeze(mean, axis=axis), np.squeeze(std, axis=axis)
    flat = a.reshape(-1)
    total = 0.0
    for lo in range(0, flat.size, chunk):
        total += float(flat[lo : lo + chunk].astype(np.float64).sum())
    mean = total / flat.size
    squares = 0.0
    for lo in range(0, flat.size, chunk):
        d = flat[lo : lo + chunk].astype(np.float64) - mean
        squares += float((d * d).sum())
    return mean, math.sqrt(squares / (flat.size - 1))


def resample(wave, orig_rate: int, new_rate: int) -> np.ndarray:
    """(samples,) float -> float32 at `new_rate`: scipy's polyphase resampler (Kaiser-windowed sinc, anti-aliased),
    in float64; ceil(len * new / orig) samples, as torchaudio's Resample."""
    g = math.gcd(orig_rate, new_rate)
    return resample_poly(np.asarray(wave, np.float64), new_rate // g, orig_rate // g).astype(np.float32)


def mel_filterbank(n_freqs: int, sample_rate: int, n_mels: int) -> np.ndarray:
    """(n_freqs, n_mels) triangular HTK-mel filters from 0 Hz to Nyquist, unnormalised: torchaudio's
    `melscale_fbanks` defaults, computed in float64 (the band edges with Python's math, per scalar)."""
    mel_max = 2595.0 * math.log10(1.0 + (sample_rate / 2) / 700.0)
    f_pts = np.array([700.0 * (10.0 ** (mel_max * i / (n_mels + 1) / 2595.0) - 1.0) for i in range(n_mels + 2)])
    all_freqs = np.arange(n_freqs, dtype=np.float64) * ((sample_rate // 2) / (n_freqs - 1))
    f_diff = f_pts[1:] - f_pts[:-1]
    slopes = f_pts[None, :] - all_freqs[:, None]
    down = -slopes[:, :-2] / f_diff[:-1]
    up = slopes[:, 2:] / f_diff[1:]
    return np.maximum(0.0, np.minimum(down, up))


def _hann(n: int) -> np.ndarray:
    return np.array([0.5 - 0.5 * math.cos(2.0 * math.pi * i / n) for i in range(n)])  # periodic, as torch's


def mel_power(waves, sample_rate: int, n_fft: int, hop: int, n_mels: int, chunk: int = 256) -> np.ndarray:
    """waves (..., samples) -> mel power (..., n_mels, frames) float64: torchaudio's MelSpectrogram defaults
    (centred frames, reflect padding, periodic Hann window of n_fft, power 2, HTK mel from 0 Hz), computed with
    numpy's FFT and a fixed-order sum over each filter's nonzero bins."""
    waves = np.asarray(waves.numpy() if isinstance(waves, torch.Tensor) else waves)
    lead, n = waves.shape[:-1], waves.shape[-1]
    flat = waves.reshape(-1, n)
    fb = mel_filterbank(n_fft // 2 + 1, sample_rate, n_mels)
    bins = [np.flatnonzero(fb[:, m]) for m in range(n_mels)]
    window = _hann(n_fft)
    n_frames = 1 + n // hop
    out = np.empty((len(flat), n_mels, n_frames))
    for lo in range(0, len(flat), chunk):
        x = np.pad(flat[lo : lo + chunk].astype(np.float64), ((0, 0), (n_fft // 2, n_fft // 2)), mode="reflect")
        frames = np.lib.stride_tricks.sliding_window_view(x, n_fft, axis=-1)[:, ::hop][:, :n_frames]
        spec = np.fft.rfft(frames * window, axis=-1)
        power = np.ascontiguousarray((spec.real * spec.real + spec.imag * spec.imag).transpose(2, 0, 1))  # (F, B, T)
        for m, ks in enumerate(bins):
            acc = np.zeros(power.shape[1:])
            for k in ks:  # fixed order: bin by bin
                acc = acc + fb[k, m] * power[k]
            out[lo : lo + chunk, m] = acc
    return out.reshape(*lead, n_mels, n_frames)


def log_mel(waves, sample_rate: int, n_fft: int, hop: int, n_mels: int) -> np.ndarray:
    """log(mel power + 1e-6) as float32 (..., n_mels, frames); see `mel_power`."""
    return log(mel_power(waves, sample_rate, n_fft, hop, n_mels) + 1e-6).astype(np.float32)


def matmul(a, b) -> np.ndarray:
    """a (..., K) @ b (K, M) in float64, summed over K in order (no BLAS: its kernels depend on the CPU)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    out = np.zeros((*a.shape[:-1], b.shape[1]))
    for k in range(a.shape[-1]):
        out = out + a[..., k, None] * b[k]
    return out


def orthogonal(g: np.ndarray) -> np.ndarray:
    """The Q of a QR of square `g` by modified Gram-Schmidt in a fixed order (columns with positive R diagonal):
    a fixed random rotation without LAPACK, whose blocking and threads depend on the machine."""
    q = np.array(g, np.float64, copy=True)
    for j in range(q.shape[1]):
        for i in range(j):
            q[:, j] = q[:, j] - (q[:, i] * q[:, j]).sum() * q[:, i]
        q[:, j] = q[:, j] / math.sqrt((q[:, j] * q[:, j]).sum())
    return q


def quantize(x, step: float):
    """x rounded to multiples of `step` (a power of two), in float64: exact, the same everywhere."""
    x = x.double() if isinstance(x, torch.Tensor) else torch.from_numpy(np.asarray(x, np.float64))
    return torch.round(x / step) * step


X_STEP, W_STEP = 2.0**-12, 2.0**-16  # activations and weights of `exact_conv2d`: products are multiples of 2**-28
# |outputs| below this: sums of up to 32 of them (a pooling window) stay below 2**53 multiples of 2**-28
EXACT_BOUND = 2.0**53 * X_STEP * W_STEP / 32


def exact_conv2d(x: torch.Tensor, weight: torch.Tensor, bias=None, stride: int = 1, padding: int = 0) -> torch.Tensor:
    """conv2d on `x` and `weight` rounded to X_STEP and W_STEP, in float64, where every product and partial sum
    is an exact multiple of X_STEP * W_STEP, fewer than 2**53 of them: exact, so the same bits whatever kernel,
    summation order or thread count computes it. Rounding moves a value by at most 2**-13 (inputs) or 2**-17
    (weights). Raises if the bound that guarantees exactness does not hold. Returns float64."""
    xq, wq = quantize(x, X_STEP), quantize(weight, W_STEP)
    bq = quantize(bias, X_STEP * W_STEP) if bias is not None else None
    bound = float(xq.abs().max()) * float(wq.abs().flatten(1).sum(1).max())
    bound += float(bq.abs().max()) if bq is not None else 0.0
    if bound >= EXACT_BOUND:
        raise ValueError(f"exact_conv2d: |outputs| up to {bound:.3g} could round; expected < {EXACT_BOUND:g}")
    return torch.nn.functional.conv2d(xq, wq, bq, stride=stride, padding=padding)
