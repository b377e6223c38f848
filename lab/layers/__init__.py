"""Layers: modules with forward (array API, traced by JAX) and a hand-written vjp (NumPy)."""
