"""Preference data from scored pass matrices.

* :mod:`codepref.pairs.data`       -- joining samples, matrices and prompts per task;
* :mod:`codepref.pairs.build`      -- DPO pairs (TRL ``prompt/chosen/rejected``) and KTO samples
  (``prompt/completion/label``), with DSTC test-code concatenation;
* :mod:`codepref.pairs.behaviour`  -- behaviour signatures (results on the tests' inputs) for
  the consensus filter;
* :mod:`codepref.pairs.efficiency` -- CodeDPO efficiency pairs timed in the sandbox;
* :mod:`codepref.pairs.rank`       -- the ``codepref rank`` stage (file in, file out, resumable).
"""
