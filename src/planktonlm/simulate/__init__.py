"""Cruise simulator: real marine genomes x a cruise design -> reads, sample sheet and truth.

``planktonlm simulate`` (``cli``) writes a complete planktonlm input set plus the truth that made
it (``writer.simulate_cruise``). The simulation has three independent layers, each seeded from its
own stream of the one seed (``streams``, ``planktonlm.seeding.random_stream``):

- ``design``: stations, cruise designs, the presets (demo, tiny) and ``monthly_design``;
- ``environment``: the sample sheet (seasons, thermocline, chemistry, noise, decoys);
- ``community``: the true community, niche responses (``niches.tsv``) or a null AR(1) walk,
  and ``drivers.tsv``, what drives it; ``simulate_tables``: sample sheet and read counts without
  genomes or reads, for benchmarks that need hundreds of cruises;
- ``genomes`` and ``reads``: genomes as base codes; Illumina-like read pairs and FASTQ records;
- ``writer`` (with ``gzipio``): the cruise folder, its truth and its ``.complete`` manifest.
"""
