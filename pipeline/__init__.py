"""yousaid: code consultation comments into themes, with analysts in the loop."""

__version__ = "0.1.0"
