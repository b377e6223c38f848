"""The registry: every public module in this folder is a model (see lab.model)."""
