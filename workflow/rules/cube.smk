# The community cube: every profile over (sample, otu), the environment, coordinates, provenance.


rule cube:
    input:
        unpack(cube_inputs),
    output:
        cube=report("results/cube.nc", caption="../report/cube.rst", category="Community cube"),
    log:
        "results/logs/cube/cube.log",
    params:
        config=CUBE_CONFIG,
    conda:
        "../envs/stats.yaml"
    script:
        "../scripts/cube.py"
