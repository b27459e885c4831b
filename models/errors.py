"""One error tree for the models package, so callers catch ``ModelError`` and show its message."""


class ModelError(Exception):
    """Base class: every failure raised on purpose by ``models``."""


class UnknownModelError(ModelError, KeyError):
    """A model id (or stage index) that the registry does not know."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class InvalidInputError(ModelError, ValueError):
    """Input bytes that do not follow the model's documented encoding."""


class ShardIntegrityError(ModelError):
    """A shard file whose sha256 (or size) differs from its manifest: it must not be loaded."""


class ArtifactError(ModelError):
    """A model artifact that cannot be built or found (missing package, failed conversion)."""


class EndpointError(ModelError):
    """An OpenAI-compatible endpoint that failed or answered something unusable."""
