"""Helpers for the lab-VM provisioning test: see sandbox.py."""
