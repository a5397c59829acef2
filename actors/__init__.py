"""Rollout workers: plain classes that own model copies, and pools that run them (inline or on Ray)."""
