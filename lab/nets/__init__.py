"""The networks: one file per network, stages from lab/layers ending in a loss (lab/net.py)."""
