"""The lab's transformer with its attention layers replaced by a head-by-head attention whose backward
forgets the causal mask (``_mha_unmasked.py`` beside this file): one stage's vjp is wrong, in every block.
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
STAGE = "b1.attn.mha"  # from the loss down, the last block's attention is met first

_mha = load(str(Path(__file__).with_name("_mha_unmasked.py"))).module.LAYER


def _swap(s):
    if isinstance(s, Residual):
        return dataclasses.replace(s, body=tuple(_swap(b) for b in s.body))
    return dataclasses.replace(s, layer=_mha) if s.name.endswith(".mha") else s


NET = dataclasses.replace(transformer.NET, stages=tuple(_swap(s) for s in transformer.NET.stages))
init = transformer.init
