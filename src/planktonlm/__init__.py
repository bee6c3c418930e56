"""planktonlm: ocean plankton metagenome time series -> DNA transformer -> community shifts vs climate."""

__version__ = "0.1.0"
