"""The lab notebooks' source: one Python file per lab, turned into notebooks by make.py."""
