"""cnncourse: the helper library every notebook of the course imports.

Infrastructure only (data, training loop, metrics, pictures, model inspection);
never the code that students are asked to write. Submodules are imported on
demand, so ``import cnncourse`` is cheap and has no side effects.
"""

__version__ = "0.1.0"
