"""Stylized facts against the literature: one module per fact, one renderer.

``sections`` lists the fact modules (each returns a ``results.SectionResult``: claims,
tables and text as data), ``render`` turns them into Markdown and ``run.generate`` writes
``docs/VALIDATION.md``. The command line (``i4p validate``, ``python -m
i4p_sim.validation``) lives in :mod:`i4p_sim.cli`.
"""
