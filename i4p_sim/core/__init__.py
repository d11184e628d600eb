"""The functional core: pure numpy/scipy, no Mesa, no pydantic, nothing else of the package.

``field`` (the tension core, with its optional numba kernel in ``field_numba``),
``landscape`` (the initial maps) and the vectorised agent rules.
"""
