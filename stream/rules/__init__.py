"""Rule model and loaders."""

from stream.rules.model import MitreTechnique, MitreThreat, Rule

__all__ = ["MitreTechnique", "MitreThreat", "Rule"]
