"""Bash as a codepref language: a program is the solution (shell functions) then the test
(a command whose exit status is the verdict), run by the base image's bash."""

from codepref.languages import Language


def assemble(solution: str, test: str) -> str:
    """The solution's functions, then the test as the script's last command."""
    return f"{solution.rstrip()}\n{test.rstrip()}\n"


BASH = Language(name="bash", filename="program.sh", argv=("bash", "{file}"), assemble=assemble)
