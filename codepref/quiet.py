"""Silence library chatter that says nothing to a codepref user (generation and training share it)."""

from __future__ import annotations

import logging
import warnings


def quiet_libraries() -> None:
    """Silence library chatter that says nothing to a codepref user.

    transformers' per-file weight-loading bars, its v6 renaming notices (TRL still uses the
    old names), and bitsandbytes' notice that it cannot download an optional CPU kernel from
    a model hub (the built-in CPU path is used instead). Process-wide and idempotent; imports
    transformers, so call it only where transformers is about to be used.
    """
    import transformers

    transformers.utils.logging.disable_progress_bar()
    warnings.filterwarnings("ignore", message=".*deprecated and will be removed in v6.*", category=FutureWarning)
    logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)
