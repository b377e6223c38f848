"""A ReLU as a learner first writes it, PyTorch's backward (relu'(0) = 0: the mask is x > 0), with no
kink declared.

Style: CS231n's ``relu_backward``, ``dx = dout * (x > 0)``, in a layer file without ``KINK_ORDER``.
The search draws x = 0 often, and at every such entry autodiff (JAX's max, ½ at a tie) differs from
the hand value. The layer's loss ⟨dout, relu(x)⟩ is a sum of separate kinks, concave where dout < 0,
so along a random direction the hand value can lie outside the two one-sided derivatives; the region
where every x = 0 entry moves to the side the hand takes has it as its gradient. Correct.
"""

from array_api_compat import array_namespace

KIND = "layer"
INPUT = "real"
SHAPE = ("B", "T", "C")
EXPECT = "verified"


def init(shape, *, seed=0):
    return {}


def forward(params, x):
    xp = array_namespace(x)
    return xp.maximum(x, xp.zeros_like(x))


def vjp(params, x, dout):
    return {}, dout * (x > 0)
