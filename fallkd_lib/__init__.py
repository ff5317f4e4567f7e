"""fallkd_lib: the tested library behind the fallkd course (camera-based fall detection for the edge)."""

__version__ = "0.1.0"
