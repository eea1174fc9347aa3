"""eql-stream: evaluate Elastic EQL detection rules on streams of ECS events."""

__version__ = "0.1.0"

__all__ = ["__version__"]
