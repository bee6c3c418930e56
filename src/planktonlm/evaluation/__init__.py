"""How well read vectors separate genomes and how close profiles come to the true community.

Held-out genome regions, k-mer baselines, the naive-Bayes reference ceiling, metrics. No torch here.
"""
