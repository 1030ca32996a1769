"""The v2 guest harness: see v2guest.py and docs/v2-guest.md."""
