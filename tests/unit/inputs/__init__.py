"""Tests of planktonlm.inputs (a package, so that module names do not clash with other test folders)."""
