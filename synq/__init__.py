"""SynQ: AIVM's contract language. `compile_source(src)` -> CompilerOutput."""
from synq.compiler import OUTPUT_FORMATS, CompilerData, CompilerOutput, check_source, compile_source
from synq.errors import ErrorList, InternalCompilerError, SynqError, SynqUserError
from synq.version import __version__

__all__ = [
    "OUTPUT_FORMATS", "CompilerData", "CompilerOutput", "ErrorList", "InternalCompilerError",
    "SynqError", "SynqUserError", "__version__", "check_source", "compile_source",
]
