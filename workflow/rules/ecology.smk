# Diversity, dissimilarities, PCoA and temporal turnover of every read-based profile.


rule ecology:
    input:
        cube="results/cube.nc",
    output:
        alpha="results/ecology/{profile}/alpha.tsv",
        distances="results/ecology/{profile}/distances.tsv",
        pcoa="results/ecology/{profile}/pcoa.tsv",
        pcoa_axes="results/ecology/{profile}/pcoa_axes.tsv",
        turnover="results/ecology/{profile}/turnover.tsv",
        distance_decay="results/ecology/{profile}/distance_decay.tsv",
    log:
        "results/logs/ecology/{profile}.log",
    params:
        ecology=config["ecology"],
        seed=config["seed"],
        profile="{profile}",
    wildcard_constraints:
        profile="embedding|kmer",
    conda:
        "../envs/stats.yaml"
    script:
        "../scripts/ecology.py"
