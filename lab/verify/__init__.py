"""The independent witnesses, the judge and the report."""
