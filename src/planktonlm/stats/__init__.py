"""The statistics core: pure functions and estimators on pandas / numpy tables, no file I/O.

    transforms        community transformations and distances (Hellinger, CLR, Bray-Curtis, Aitchison)
    ordination        PCoA
    diversity         rarefaction and alpha diversity
    turnover          consecutive turnover and distance decay within station x depth series
    ecology           the ecology stage's config and tables of one profile
    permutations      sampling designs and design-respecting permutations
    dbrda, varpart    distance-based RDA, variation partitioning, VIF
    folds, crossval   grouped, time-aware CV plans and cross-validated prediction
    multitest         Holm families and Benjamini-Hochberg
    timeseries        seasonal features, climatology, trends, time-lag analysis, within-series pairs
    shift_tables      the shifts stage's config, table columns and writer
    shift_inputs      the shifts stage's input checks, samples and drivers
    community_tests   dbRDA / varpart / time-lag tables of one profile
    regression        CV tables of one target, season baseline, profile comparison
    shifts            every shift table from a cube's profiles, environment and metadata
    calibration       the shifts statistics on simulated null cruises (planktonlm bench stats-null)
"""
