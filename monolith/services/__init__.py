"""The business tier: plain values in, a unit of work, explicit commits."""
