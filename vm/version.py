"""The release, defined once: pyproject.toml's `version`, read from the installed distribution."""
from importlib.metadata import PackageNotFoundError, version as _installed

DISTRIBUTION = "synergy-aivm"

try:
    RELEASE = _installed(DISTRIBUTION)
except PackageNotFoundError:  # a source tree that was never installed (`make install` installs it)
    RELEASE = "0.0.0+unknown"

CLIENT_VERSION = f"AIVM/v{RELEASE}/python"  # web3_clientVersion, anvil_metadata
