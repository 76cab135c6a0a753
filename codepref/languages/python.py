"""Python 3: programs are solution + test; run in-process in a fork of the sandbox server."""

from codepref.languages import Language, concatenate

PYTHON = Language(
    name="python",
    filename="program.py",
    argv=("python3", "{file}"),
    assemble=concatenate,
    inproc_python=True,
)
