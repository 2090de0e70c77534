"""Real-ESRGAN replication suite: data, degradation synthesis, networks, training, evaluation, reports."""

__version__ = "0.1.0"
