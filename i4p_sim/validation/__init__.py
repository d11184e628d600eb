"""Stylized facts against the literature: one module per fact, one renderer."""
