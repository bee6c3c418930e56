"""The community cube: every profile and every environmental variable of a cruise, per sample.

``results/cube.nc`` is NetCDF-4 (HDF5, written with h5netcdf) holding one xarray Dataset::

    dimensions   sample, and one OTU dimension per profile: otu_<name>
    coordinates  sample (id), otu_<name> (OTU / genome ids), and on sample: time (UTC),
                 cruise, station, depth (m), latitude, longitude
    variables    abundance_<name>(sample, otu_<name>)  one per profile: int64 counts
                                                       (float64 for relative abundances)
                 <column>(sample)                      one per environmental column of
                                                       samples.tsv, float64, NaN = missing,
                                                       attrs units and long_name
                 novelty_<name>(sample)                read profiles with a novelty table only:
                                                       share (0-1) of the sample's reads beyond
                                                       the OTU centres, attrs threshold, quantile
    attributes   provenance: config_sha256, input_sha256 (JSON), model_sha256,
                 package_versions (JSON), created_by; no wall-clock time

Profiles enter as plain tables (index sample, columns OTU ids), so a published community table
can go in beside the embedding and k-mer profiles. ``abundance_oracle`` (simulated cruises
only) holds the simulator's true genome abundances: it is there to benchmark the profiles and
for the report, never as a model input (``ORACLE_NOTE``).

The same inputs and package versions give the same bytes (``store``; tests/unit/cube/test_store.py
writes in two processes with different hash seeds, a second apart).

    layout      names: variable and dimension prefixes, the oracle profile, reserved names
    build       sample sheet + profile tables -> Dataset, every problem checked (pure)
    novelty     the profile stage's novelty tables -> novelty_<profile>(sample)
    provenance  checksums, model digest, package versions, the simulator's truth table
    store       write_cube / read_cube (NetCDF-4, byte-reproducible)
    tables      the cube back as tables: profiles, environment, novelty, sample metadata
    make        the cube of a read-based cruise from its files
    published   the cube of published tables
"""
