"""Errors that the command line turns into one stderr line and an exit code.

Each kind carries a stable code (for scripts and Galaxy's ``detect_errors``) and an optional hint,
after matchms's CLI: the message says what is wrong and where, the hint what to do about it.
"""


class Llm4msError(Exception):
    code = "E_LLM4MS"
    exit_code = 1

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        text = f"error [{self.code}]: {self.message}"
        if self.hint:
            text += f" (hint: {self.hint})"
        return text


class InputError(Llm4msError):
    """An input file cannot be used: unreadable, wrong format, broken content."""

    code = "E_INPUT"
    exit_code = 3


class IncompatibleError(Llm4msError):
    """Inputs were made with another model, adapter, textualization or llm4ms format."""

    code = "E_INCOMPATIBLE"
    exit_code = 4


class ModelError(Llm4msError):
    """The backbone or adapter cannot be found, converted or loaded."""

    code = "E_MODEL"
    exit_code = 5


EXIT_CODES = {cls.code: cls.exit_code for cls in (Llm4msError, InputError, IncompatibleError, ModelError)}
