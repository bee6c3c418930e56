"""Tests of planktonlm.encoder and its stages (a package, so that module names do not clash with other test folders)."""
