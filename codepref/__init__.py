"""codepref: execution-verified, self-generated preference data for code LLMs.

Importing this package is cheap on purpose: no torch, no numpy-heavy work. The stages
live in subpackages (``codepref.execution``, ``codepref.languages`` ...) and the CLI in
``codepref.cli``.
"""

__version__ = "0.1.0"
