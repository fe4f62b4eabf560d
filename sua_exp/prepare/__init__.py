"""`sua-prepare`: build the project's data folder on a fresh machine from the public packages.

The pinned archives (PyPI ``bigbench`` 1.0.0 sdist, ``evals`` 3.0.1.post1 and ``nlpaug`` 1.1.11
wheels, Debian ``wordnet-base`` 1:3.0-37) are fetched with pip / apt-get, checked against their
sha256, read with the safe readers of :mod:`sua_exp.utils.archives`, and converted into the same
files as ``shared/data`` (see its README).  ``--models`` also unpacks the MiniLM and SmolLM2 wheels.
"""

from sua_exp.prepare.cli import main

__all__ = ["main"]
