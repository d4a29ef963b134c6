"""govcloud: a county government cloud (政务云) as code."""

__version__ = "0.1.0"
