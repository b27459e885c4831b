"""AI side of AIVM: the models every validator imports (see ``ai.models``)."""
