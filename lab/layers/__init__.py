"""Layers: one module per layer, each with init, forward and its hand-written vjp (see DESIGN.md, section 3)."""
