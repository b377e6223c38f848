"""The lab's transformer, one block deep, with its attention replaced by a head-by-head attention whose
backward forgets the causal mask (``_mha_unmasked.py`` beside this file): one stage's vjp is wrong.
"""

import dataclasses
from pathlib import Path

from lab.model import load
from lab.net import Residual
from lab.nets import transformer

KIND = "net"
VOCAB = transformer.VOCAB
EXPECT = "wrong"
NAMED = "the causal mask is missing in the backward"
STAGE = "b0.attn.mha"

_mha = load(str(Path(__file__).with_name("_mha_unmasked.py"))).module.LAYER


def _swap(s):
    if isinstance(s, Residual):
        return dataclasses.replace(s, body=tuple(_swap(b) for b in s.body))
    return dataclasses.replace(s, layer=_mha) if s.name.endswith(".mha") else s


_one = transformer.network(1)
NET = dataclasses.replace(_one, stages=tuple(_swap(s) for s in _one.stages))


def init(shape, *, seed=0, C=transformer.C):
    return transformer.init(shape, seed=seed, C=C, L=1)
