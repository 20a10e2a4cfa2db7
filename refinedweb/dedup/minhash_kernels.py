"""MinHash's compiled kernels (numba): shingle hashes, signatures and band keys (see dedup/minhash.py).

Apart from dedup/minhash.py so that importing its config (every run does, through the pipeline
config) does not import numba and LLVM: 0.38 s of a refinery run's start, measured with
``python -X importtime``, for a phase that may be switched off. ``MinHasher`` imports this module.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from refinedweb.dedup.normalize import DELETE_CHAR, SPACE_CHAR

_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)
_M1 = np.uint64(0xFF51AFD7ED558CCD)
_M2 = np.uint64(0xC4CEB9FE1A85EC53)
_S33 = np.uint64(33)
_S32 = np.uint64(32)
_MAX64 = np.uint64(0xFFFFFFFFFFFFFFFF)


@njit(cache=True, nogil=True)
def _fmix64(h):
    """MurmurHash3's 64-bit finaliser: every input bit affects every output bit."""
    h ^= h >> _S33
    h *= _M1
    h ^= h >> _S33
    h *= _M2
    h ^= h >> _S33
    return h


@njit(cache=True, nogil=True)
def shingle_kernel(cps, classes, ngram, seed):
    """32-bit hashes (as uint64) of the word n-grams; a text with 1..n-1 words is one shingle."""
    words = np.empty(cps.size // 2 + 1, np.uint64)
    n = 0
    h = _FNV_OFFSET
    in_word = False
    for i in range(cps.size):
        cls = classes[cps[i]]
        if cls == DELETE_CHAR:
            continue
        if cls == SPACE_CHAR:
            if in_word:
                words[n] = _fmix64(h)
                n += 1
                h = _FNV_OFFSET
                in_word = False
        else:
            h = (h ^ np.uint64(cps[i])) * _FNV_PRIME
            in_word = True
    if in_word:
        words[n] = _fmix64(h)
        n += 1
    if n == 0:
        return np.empty(0, np.uint64)
    k = min(ngram, n)
    out = np.empty(n - k + 1, np.uint64)
    for i in range(n - k + 1):
        x = seed
        for j in range(k):
            x = _fmix64(x ^ words[i + j])
        out[i] = x >> _S32
    return out


@njit(cache=True, nogil=True)
def signature_kernel(shingles, offsets, a, b, out):
    """``out[d, k] = min over document d's shingles x of ((a[k] x + b[k]) mod 2**64) >> 32``."""
    for d in range(out.shape[0]):
        x = shingles[offsets[d] : offsets[d + 1]]
        for k in range(a.size):
            ak = a[k]
            bk = b[k]
            m = _MAX64
            for s in range(x.size):
                v = ak * x[s] + bk
                if v < m:
                    m = v
            out[d, k] = np.uint32(m >> _S32)


@njit(cache=True, nogil=True)
def band_kernel(sig, rows, seed, out):
    """``out[d, j]`` = 64-bit hash of band ``j``'s index and its ``rows`` values."""
    for d in range(out.shape[0]):
        for j in range(out.shape[1]):
            h = _fmix64(seed ^ np.uint64(j))
            for r in range(j * rows, (j + 1) * rows):
                h = _fmix64(h ^ np.uint64(sig[d, r]))
            out[d, j] = h
