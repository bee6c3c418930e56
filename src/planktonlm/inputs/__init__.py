"""Cruise inputs: sample and unit sheets, their range checks, FASTQ checks, published tables."""
