"""Write the input-validation corpus: tests/data/good_cruise/, tests/data/good_variants/<variant>/
and tests/data/bad_inputs/<case>/.

Run from the repository root:  python tests/data/bad_inputs/make_corpus.py [DATA_DIR]
(DATA_DIR defaults to tests/data). The output is deterministic (fixed seeds, gzip mtime 0), so
the committed files can be regenerated and compared (tests/unit/test_samples.py does).

Each bad case is the small valid base cruise below with one defect (or several, for
``several_errors``). A case folder holds samples.tsv, units.tsv, the FASTQ files specific to
the case under reads/, config.yaml (paths relative to the repository root, for
`snakemake --configfile`), and expected.txt: a "# problems: N" line (the exact number of
problems load_cruise must report), a "# caught by: ..." line ("parse time", before any job, or
"check_fastq SAMPLE UNIT", the FASTQ content check job of that unit, before its QC) and, one per
line, substrings the error message must contain. Reads shared by the cases live in
bad_inputs/_reads/.

Each good variant is the good cruise's two sheets as a spreadsheet may save them (Windows line
ends, a byte-order mark, UTF-16, ...), with the good cruise's reads: they must load exactly as
the good cruise does.
"""

from __future__ import annotations

import copy
import gzip
import random
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REL_DATA = "tests/data"  # paths written into the tables are relative to the repository root
SAMPLE_COLUMNS = [
    "sample", "cruise", "station", "datetime", "latitude", "longitude", "depth_m",
    "temperature_c", "ph", "pressure_dbar", "salinity_psu", "oxygen_umol_kg", "chlorophyll_mg_m3",
]  # fmt: skip


# ---------------------------------------------------------------------------- FASTQ helpers


def fastq_text(name_prefix: str, n_records: int, length: int, seed: int, mate: int | None) -> str:
    """Random reads with Illumina-like qualities (high, lower towards the 3' end)."""
    rng = random.Random(seed)
    lines = []
    for i in range(1, n_records + 1):
        sequence = "".join(rng.choice("ACGT") for _ in range(length))
        quality = "".join("F" if j < length - 5 else rng.choice("F:,") for j in range(length))
        suffix = f"/{mate}" if mate else ""
        lines += [f"@{name_prefix}.{i}{suffix}", sequence, "+", quality]
    return "\n".join(lines) + "\n"


def gz(text: str) -> bytes:
    return gzip.compress(text.encode(), mtime=0)


def read_pair(name_prefix: str, n_records: int, length: int, seed: int) -> tuple[str, str]:
    return (
        fastq_text(name_prefix, n_records, length, seed, 1),
        fastq_text(name_prefix, n_records, length, seed + 1000, 2),
    )


# ---------------------------------------------------------------------------- tables


def tsv(columns: list[str], rows: list[dict[str, str]]) -> str:
    lines = ["\t".join(columns)] + ["\t".join(str(row.get(c, "")) for c in columns) for row in rows]
    return "\n".join(lines) + "\n"


def config_yaml(folder: str, comment: str) -> str:
    return (
        f"# {comment}\n"
        f"samples: {folder}/samples.tsv\n"
        f"units: {folder}/units.tsv\n"
    )


# ---------------------------------------------------------------------------- good cruise


def write_good_cruise(data_dir: Path) -> None:
    """3 samples, all paired-end; S1 has two units. 50 pairs of 100 bp per unit."""
    folder = data_dir / "good_cruise"
    rel = f"{REL_DATA}/good_cruise"
    samples = [
        dict(sample="S1", cruise="PLK2021", station="ST01", datetime="2021-06-01T08:30:00Z", latitude="43.68",
             longitude="7.32", depth_m="5", temperature_c="18.4", ph="8.08", pressure_dbar="5.1",
             salinity_psu="38.1", oxygen_umol_kg="245.2", chlorophyll_mg_m3="0.21"),
        dict(sample="S2", cruise="PLK2021", station="ST02", datetime="2021-06-15T09:10:00Z", latitude="43.52",
             longitude="7.85", depth_m="50", temperature_c="14.9", ph="8.05", pressure_dbar="50.4",
             salinity_psu="38.2", oxygen_umol_kg="231.0", chlorophyll_mg_m3="0.64"),
        dict(sample="S3", cruise="PLK2021", station="ST03", datetime="2021-07-02T07:45:00Z", latitude="43.30",
             longitude="8.40", depth_m="200", temperature_c="13.6", ph="8.01", pressure_dbar="201.6",
             salinity_psu="38.5", oxygen_umol_kg="198.7", chlorophyll_mg_m3="0.05"),
    ]  # fmt: skip
    units_spec = [("S1", "L1"), ("S1", "L2"), ("S2", "L1"), ("S3", "L1")]
    units = []
    for seed, (sample, unit) in enumerate(units_spec, start=1):
        r1, r2 = read_pair(f"{sample}_{unit}", 50, 100, seed)
        for mate, text in ((1, r1), (2, r2)):
            write(folder / "reads" / f"{sample}_{unit}_R{mate}.fastq.gz", gz(text))
        units.append(
            dict(sample=sample, unit=unit, fq1=f"{rel}/reads/{sample}_{unit}_R1.fastq.gz",
                 fq2=f"{rel}/reads/{sample}_{unit}_R2.fastq.gz")
        )  # fmt: skip
    write(folder / "samples.tsv", tsv(SAMPLE_COLUMNS, samples))
    write(folder / "units.tsv", tsv(["sample", "unit", "fq1", "fq2"], units))
    write(folder / "config.yaml", config_yaml(rel, "A valid tiny cruise: 3 samples, 4 paired-end units."))


# ---------------------------------------------------------------------------- good variants

GOOD_VARIANTS: dict[str, tuple[str, Callable[[str], bytes]]] = {
    "crlf": ("Windows line ends (CR LF)", lambda text: text.replace("\n", "\r\n").encode()),
    "bom": ("a UTF-8 byte-order mark", lambda text: b"\xef\xbb\xbf" + text.encode()),
    "bom_crlf": ("a UTF-8 byte-order mark and CR LF line ends", lambda text: b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode()),
    "cr": ("old Mac line ends (CR only)", lambda text: text.replace("\n", "\r").encode()),
    "utf16": ("UTF-16 with a byte-order mark and CR LF line ends (Excel's 'Unicode Text')",
              lambda text: text.replace("\n", "\r\n").encode("utf-16")),
}


def write_good_variants(data_dir: Path) -> None:
    """The good cruise's sheets re-encoded; units.tsv still names the good cruise's reads."""
    for name, (what, encode) in GOOD_VARIANTS.items():
        folder = data_dir / "good_variants" / name
        for sheet in ("samples.tsv", "units.tsv"):
            write(folder / sheet, encode((data_dir / "good_cruise" / sheet).read_text(encoding="utf-8")))
        write(folder / "config.yaml", config_yaml(f"{REL_DATA}/good_variants/{name}",
                                                  f"The good cruise's sheets with {what}: must load as the good cruise."))


# ---------------------------------------------------------------------------- bad cases

BAD = f"{REL_DATA}/bad_inputs"
SHARED = f"{BAD}/_reads"
SHARED_UNITS = {  # (sample, unit) -> paired?
    ("S1", "L1"): True,
    ("S1", "L2"): True,
    ("S2", "L1"): True,
    ("S2", "L2"): False,
    ("S3", "L1"): True,
}


def shared_unit(sample: str, unit: str) -> dict[str, str]:
    paired = SHARED_UNITS[(sample, unit)]
    return dict(
        sample=sample,
        unit=unit,
        fq1=f"{SHARED}/{sample}_{unit}_R1.fastq.gz",
        fq2=f"{SHARED}/{sample}_{unit}_R2.fastq.gz" if paired else "",
    )


def write_shared_reads(data_dir: Path) -> None:
    for seed, ((sample, unit), paired) in enumerate(SHARED_UNITS.items(), start=101):
        r1, r2 = read_pair(f"{sample}_{unit}", 4, 30, seed)
        write(data_dir / "bad_inputs" / "_reads" / f"{sample}_{unit}_R1.fastq.gz", gz(r1))
        if paired:
            write(data_dir / "bad_inputs" / "_reads" / f"{sample}_{unit}_R2.fastq.gz", gz(r2))


@dataclass
class Case:
    """A valid base cruise that a case function then breaks."""

    name: str
    description: str = ""
    samples_columns: list[str] = field(default_factory=lambda: list(SAMPLE_COLUMNS))
    samples: list[dict[str, str]] = field(default_factory=list)
    units_columns: list[str] = field(default_factory=lambda: ["sample", "unit", "fq1", "fq2"])
    units: list[dict[str, str]] = field(default_factory=list)
    files: dict[str, bytes | None] = field(default_factory=dict)  # relative to the case; None = folder
    samples_text: str | None = None  # raw override of samples.tsv
    units_text: str | None = None  # raw override of units.tsv
    n_problems: int = 1
    expected: list[str] = field(default_factory=list)
    checked_unit: tuple[str, str] | None = None  # (sample, unit) whose check_fastq job refuses it; None: parse time

    @property
    def folder(self) -> str:
        return f"{BAD}/{self.name}"

    def reads(self, filename: str) -> str:
        """Path (as written in units.tsv) of a FASTQ specific to this case."""
        return f"{self.folder}/reads/{filename}"

    def pair_files(self, row: int, r1: bytes, r2: bytes, suffix: str = ".fastq.gz") -> None:
        """Unit ``row`` of units.tsv reads this case's own mate files, {sample}_{unit}_R1/_R2 + suffix."""
        unit = self.units[row]
        names = [f"{unit['sample']}_{unit['unit']}_R{mate}{suffix}" for mate in (1, 2)]
        unit.update(fq1=self.reads(names[0]), fq2=self.reads(names[1]))
        self.files[f"reads/{names[0]}"], self.files[f"reads/{names[1]}"] = r1, r2


BASE_SAMPLES = [
    dict(sample="S1", cruise="BAD1", station="A1", datetime="2022-03-01T10:00:00Z", latitude="10.5",
         longitude="-30.25", depth_m="10", temperature_c="25.1", ph="8.1", pressure_dbar="10.2",
         salinity_psu="36.0", oxygen_umol_kg="210", chlorophyll_mg_m3="0.3"),
    dict(sample="S2", cruise="BAD1", station="A2", datetime="2022-03-02", latitude="11.0",
         longitude="-31.0", depth_m="100", temperature_c="20.0", ph="8.0", pressure_dbar="101",
         salinity_psu="36.2", oxygen_umol_kg="190", chlorophyll_mg_m3="0.5"),
]  # fmt: skip
S3_ROW = dict(BASE_SAMPLES[1], sample="S3", station="A3")


def base_case(name: str) -> Case:
    return Case(
        name=name,
        samples=copy.deepcopy(BASE_SAMPLES),
        units=[shared_unit("S1", "L1"), shared_unit("S2", "L1")],
    )


def case_unknown_sample_in_units(c: Case) -> None:
    c.description = "units.tsv lists a sample that samples.tsv does not have"
    c.units.append(dict(shared_unit("S3", "L1"), sample="S9"))
    c.expected = ["units.tsv, row 3, column 'sample'", "sample not listed in samples.tsv", "(value: 'S9')"]


def case_duplicate_sample_id(c: Case) -> None:
    c.description = "two rows of samples.tsv share a sample id"
    c.samples.append(dict(S3_ROW, sample="S1"))
    c.expected = ["samples.tsv, row 3, column 'sample'", "duplicate sample id (first at row 1)", "(value: 'S1')"]


def case_bad_id_characters(c: Case) -> None:
    c.description = "ids that could escape a path or split a shell word"
    c.samples[0]["sample"] = "../x"
    c.samples[1]["station"] = "a b"
    c.units[0]["sample"] = "../x"
    c.n_problems = 3
    c.expected = [
        "samples.tsv, row 1, column 'sample': contains characters that are not allowed (value: '../x')",
        "samples.tsv, row 2, column 'station': contains characters that are not allowed (value: 'a b')",
        "units.tsv, row 1, column 'sample': contains characters that are not allowed (value: '../x')",
        "letters, digits, '.', '_', '-' only",
    ]


def case_ids_differing_in_case(c: Case) -> None:
    c.description = "sample ids S1 and s1: one output file on a case-insensitive file system"
    c.samples.append(dict(S3_ROW, sample="s1"))
    c.units.append(dict(shared_unit("S3", "L1"), sample="s1"))
    c.n_problems = 2  # in both sheets: the units' output folders would collide too
    c.expected = [
        "samples.tsv, row 3, column 'sample': sample id differs from row 1's (S1) only in letter case",
        "(value: 's1')",
        "units.tsv, row 3, column 'unit': (sample, unit) differs from row 1's (S1/L1) only in letter case",
        "case-insensitive file system (macOS, Windows)",
    ]


def case_future_datetime(c: Case) -> None:
    c.description = "a sampling date in the future (2099 for 2022)"
    c.samples[1]["datetime"] = "2099-03-02"
    c.expected = ["samples.tsv, row 2, column 'datetime': in the future", "(value: '2099-03-02')", "a typo in the year?"]


def case_ph_out_of_range(c: Case) -> None:
    c.description = "pH 15"
    c.samples[0]["ph"] = "15"
    c.expected = ["samples.tsv, row 1, column 'ph'", "outside the physically possible range", "(value: 15.0)", "between 0 and 14"]


def case_temperature_out_of_range(c: Case) -> None:
    c.description = "temperature 45 C"
    c.samples[1]["temperature_c"] = "45"
    c.expected = ["samples.tsv, row 2, column 'temperature_c'", "(value: 45.0)", "between -2.5 and 40 degrees C"]


def case_negative_depth(c: Case) -> None:
    c.description = "depth -10 m (pressure is then not compared with it)"
    c.samples[0]["depth_m"] = "-10"
    c.expected = ["samples.tsv, row 1, column 'depth_m'", "(value: -10.0)", "between 0 and 11000 m"]


def case_pressure_inconsistent(c: Case) -> None:
    c.description = "500 dbar at 100 m depth"
    c.samples[1]["pressure_dbar"] = "500"
    c.expected = [
        "samples.tsv, row 2, column 'pressure_dbar'",
        "inconsistent with depth_m = 100 m",
        "(value: 500.0)",
        "about 102 dbar",
        "validate.pressure_tolerance = 0.15",
    ]


def case_unparsable_date(c: Case) -> None:
    c.description = "dates that are not ISO 8601"
    c.samples[0]["datetime"] = "2022-13-45"
    c.samples[1]["datetime"] = "03/02/2022"
    c.n_problems = 2
    c.expected = [
        "samples.tsv, row 1, column 'datetime': not an ISO 8601 date/time (value: '2022-13-45')",
        "samples.tsv, row 2, column 'datetime': not an ISO 8601 date/time (value: '03/02/2022')",
    ]


def case_missing_required_column(c: Case) -> None:
    c.description = "samples.tsv has no ph column"
    c.samples_columns.remove("ph")
    c.expected = ["samples.tsv, row 0, column 'ph': required column is missing"]


def case_missing_value_in_required_column(c: Case) -> None:
    c.description = "latitude empty, longitude NA: coordinates cannot be missing"
    c.samples[1]["latitude"] = ""
    c.samples[1]["longitude"] = "NA"
    c.n_problems = 2
    c.expected = [
        "samples.tsv, row 2, column 'latitude': missing value",
        "samples.tsv, row 2, column 'longitude': missing value",
    ]


def case_non_numeric_latitude(c: Case) -> None:
    c.description = "latitude written with a degree sign"
    c.samples[0]["latitude"] = "10.5°N"
    c.expected = ["samples.tsv, row 1, column 'latitude': not a number (value: '10.5°N')", "decimal degrees north"]


def case_non_numeric_extra_column(c: Case) -> None:
    c.description = "an extra column must be a numeric environmental variable"
    c.samples_columns.append("notes")
    c.samples[0]["notes"] = "rough sea"
    c.samples[1]["notes"] = "3.5"
    c.expected = ["samples.tsv, row 1, column 'notes': not a number (value: 'rough sea')", "extra environmental variable"]


def case_ragged_row(c: Case) -> None:
    c.description = "a row with one field too many"
    c.samples_text = tsv(c.samples_columns, c.samples).replace("\t0.5\n", "\t0.5\textra\n")
    c.expected = ["samples.tsv, row 2: row has 14 tab-separated fields, the header has 13"]


def case_not_tab_separated(c: Case) -> None:
    c.description = "samples.tsv written as CSV"
    c.samples_text = tsv(c.samples_columns, c.samples).replace("\t", ",")
    c.expected = ["samples.tsv, row 0: not tab-separated: the header line is split by commas"]


def case_missing_header(c: Case) -> None:
    c.description = "units.tsv without its header line"
    c.units_text = "".join(tsv(c.units_columns, c.units).splitlines(keepends=True)[1:])
    c.expected = ["units.tsv, row 0: no header line", "'S1\\t", "expected a tab-separated header line naming the columns sample, unit, fq1, fq2"]


def case_unknown_units_column(c: Case) -> None:
    c.description = "units.tsv with a column the workflow does not know"
    c.units_columns.append("platform")
    c.expected = ["units.tsv, row 0, column 'platform': unknown column", "only the columns sample, unit, fq1, fq2"]


def case_duplicate_unit(c: Case) -> None:
    c.description = "the same (sample, unit) twice"
    c.units.append(dict(shared_unit("S1", "L2"), unit="L1"))
    c.expected = ["units.tsv, row 3, column 'unit': duplicate (sample, unit) (first at row 1)", "(value: 'S1/L1')"]


def case_sample_without_reads(c: Case) -> None:
    c.description = "a sample that no unit lists"
    c.samples.append(dict(S3_ROW))
    c.expected = ["samples.tsv, row 3, column 'sample': sample has no reads", "(value: 'S3')"]


def case_mixed_paired_single(c: Case) -> None:
    c.description = "one sample with a paired-end and a single-end unit"
    c.units.append(shared_unit("S2", "L2"))
    c.expected = [
        "units.tsv, row 3, column 'fq2'",
        "sample mixes paired-end units (row 2) and single-end units (row 3)",
        "(value: 'S2')",
    ]


def case_missing_fastq(c: Case) -> None:
    c.description = "fq1 names a file that does not exist"
    c.units[0]["fq1"] = c.reads("S1_L1_R1.fastq.gz")
    c.expected = ["units.tsv, row 1, column 'fq1': file not found", "missing_fastq/reads/S1_L1_R1.fastq.gz"]


def case_fastq_is_directory(c: Case) -> None:
    c.description = "fq1 names a directory (the unreadable-file case: tests may run as root, where chmod 000 still reads)"
    c.units[0]["fq1"] = c.reads("S1_L1_R1.fastq.gz")
    c.files["reads/S1_L1_R1.fastq.gz/.gitkeep"] = b""
    c.expected = ["units.tsv, row 1, column 'fq1': not a regular file", "fastq_is_directory/reads/S1_L1_R1.fastq.gz"]


def case_fq1_equals_fq2(c: Case) -> None:
    c.description = "fq2 is the same file as fq1"
    c.units[0]["fq2"] = c.units[0]["fq1"]
    c.expected = ["units.tsv, row 1, column 'fq2': FASTQ listed twice: fq2 is the same file as fq1"]


def case_empty_fastq(c: Case) -> None:
    c.description = "fq2 is a 0-byte file"
    c.units[1]["fq2"] = c.reads("S2_L1_R2.fastq.gz")
    c.files["reads/S2_L1_R2.fastq.gz"] = b""
    c.expected = ["units.tsv, row 2, column 'fq2': file is empty (0 bytes)"]


def case_no_records(c: Case) -> None:
    c.description = "valid gzip files holding zero FASTQ records"
    c.checked_unit = ("S1", "L1")
    c.pair_files(0, gz(""), gz(""))
    c.n_problems = 2
    c.expected = ["no_records/reads/S1_L1_R1.fastq.gz: the file holds no FASTQ records", "no_records/reads/S1_L1_R2.fastq.gz: the file holds no FASTQ records"]


def case_truncated_gzip(c: Case) -> None:
    c.description = "R1 gzip cut in the middle (interrupted copy)"
    c.checked_unit = ("S1", "L1")
    r1, r2 = read_pair("S1_L1", 200, 50, 7)
    whole = gz(r1)
    c.pair_files(0, whole[: len(whole) * 3 // 5], gz(r2))
    c.expected = ["truncated_gzip/reads/S1_L1_R1.fastq.gz", "the file is truncated", "units.tsv: sample S1, unit L1]"]


def case_corrupt_gzip(c: Case) -> None:
    c.description = "R2 gzip with a flipped byte (CRC failure)"
    c.checked_unit = ("S2", "L1")
    r1, r2 = read_pair("S2_L1", 20, 50, 8)
    damaged = bytearray(gz(r2))
    damaged[len(damaged) // 2] ^= 0xFF
    c.pair_files(1, gz(r1), bytes(damaged))
    c.expected = ["corrupt_gzip/reads/S2_L1_R2.fastq.gz", "the compressed data is damaged", "units.tsv: sample S2, unit L1]"]


def case_quality_length_mismatch(c: Case) -> None:
    c.description = "record 3 of R2 has a quality string one character short"
    c.checked_unit = ("S2", "L1")
    r1, r2 = read_pair("S2_L1", 5, 30, 9)
    lines = r2.splitlines()
    lines[11] = lines[11][:-1]  # quality line of record 3
    c.pair_files(1, r1.encode(), ("\n".join(lines) + "\n").encode(), suffix=".fastq")
    c.expected = ["quality_length_mismatch/reads/S2_L1_R2.fastq, row 3: invalid FASTQ record (line 12)", "Length of sequence and qualities differ"]


def case_fasta_not_fastq(c: Case) -> None:
    c.description = "a single-end unit whose file is FASTA"
    c.checked_unit = ("S2", "L1")
    c.units[1].update(fq1=c.reads("S2_L1.fasta"), fq2="")
    c.files["reads/S2_L1.fasta"] = b">S2_L1.1\nACGTACGTAC\n>S2_L1.2\nACGTACGTAC\n"
    c.expected = ["fasta_not_fastq/reads/S2_L1.fasta, row 1: invalid FASTQ record", "units.tsv: sample S2, unit L1]"]


def case_mismatched_pair_counts(c: Case) -> None:
    c.description = "R1 has 6 records, R2 has 5"
    c.checked_unit = ("S1", "L1")
    r1, r2 = read_pair("S1_L1", 6, 30, 10)
    c.pair_files(0, gz(r1), gz("".join(r2.splitlines(keepends=True)[:20])))
    c.expected = [
        "mismatched_pair_counts/reads/S1_L1_R1.fastq.gz, row 6: mate files hold different numbers of records",
        "6 in tests/data/bad_inputs/mismatched_pair_counts/reads/S1_L1_R1.fastq.gz",
        "5 in tests/data/bad_inputs/mismatched_pair_counts/reads/S1_L1_R2.fastq.gz",
    ]


def case_mate_names_mismatch(c: Case) -> None:
    c.description = "R2 record 2 belongs to another pair"
    c.checked_unit = ("S1", "L1")
    r1, r2 = read_pair("S1_L1", 4, 30, 11)
    c.pair_files(0, gz(r1), gz(r2.replace("@S1_L1.2/2", "@S1_L1.9/2")))
    c.expected = ["mate_names_mismatch/reads/S1_L1_R2.fastq.gz, row 2: mate names differ: 'S1_L1.2/1'", "(value: 'S1_L1.9/2')"]


def case_several_errors(c: Case) -> None:
    c.description = "five unrelated problems in three files, all reported at once"
    c.samples[0]["ph"] = "15"
    c.samples[1]["datetime"] = "someday"
    c.samples[1]["temperature_c"] = "warm"
    c.units.append(dict(shared_unit("S3", "L1"), sample="S9"))
    c.units[1]["fq2"] = c.reads("S2_L1_R2.fastq.gz")
    c.n_problems = 5
    c.expected = [
        "samples.tsv, row 1, column 'ph'",
        "samples.tsv, row 2, column 'datetime': not an ISO 8601 date/time (value: 'someday')",
        "samples.tsv, row 2, column 'temperature_c': not a number (value: 'warm')",
        "units.tsv, row 3, column 'sample': sample not listed in samples.tsv (value: 'S9')",
        "units.tsv, row 2, column 'fq2': file not found",
        "planktonlm found 5 problems in the inputs",
    ]


def case_dot_ids(c: Case) -> None:
    c.description = "ids that are path components: '..' would leave results/qc/units/, '.' names the folder itself"
    c.samples[0]["sample"] = ".."
    c.units[0]["sample"] = ".."
    c.units[1]["unit"] = "."
    c.n_problems = 3
    c.expected = [
        "samples.tsv, row 1, column 'sample': starts with '.': ids name files and folders",
        "(value: '..')",
        "units.tsv, row 1, column 'sample': starts with '.'",
        "units.tsv, row 2, column 'unit': starts with '.': ids name files and folders, where '.' and '..' would leave their folder",
        "(value: '.')",
        "not starting with '.'",
    ]


def case_duplicate_read_ids(c: Case) -> None:
    c.description = "a lane's files concatenated twice (cat L1.fq.gz L1.fq.gz): every read id occurs twice"
    c.checked_unit = ("S1", "L1")
    r1, r2 = read_pair("S1_L1", 4, 30, 12)
    c.pair_files(0, gz(r1) + gz(r1), gz(r2) + gz(r2))
    c.expected = [
        "duplicate_read_ids/reads/S1_L1_R1.fastq.gz, row 5: duplicate read id 'S1_L1.1' (first at record 1)",
        "(value: 'S1_L1.1/1')",
        "units.tsv: sample S1, unit L1]",
        "each read id once per file",
    ]


def case_quality_below_phred33(c: Case) -> None:
    c.description = "a space inside a quality string (record 3 of R2): below '!', not Phred+33"
    c.checked_unit = ("S2", "L1")
    r1, r2 = read_pair("S2_L1", 5, 30, 13)
    lines = r2.splitlines()
    lines[11] = lines[11][:9] + " " + lines[11][10:]  # quality line of record 3, position 10
    c.pair_files(1, gz(r1), gz("\n".join(lines) + "\n"))
    c.expected = [
        "quality_below_phred33/reads/S2_L1_R2.fastq.gz, row 3: quality character ' ' (code 32) at position 10 is outside Phred+33",
        "units.tsv: sample S2, unit L1]",
        "from '!' (Q0) to '~' (Q93)",
    ]


def case_quality_above_phred33(c: Case) -> None:
    c.description = "a non-ASCII byte (0xB0, a Latin-1 degree sign) in a quality string (record 4 of R1): above '~'"
    c.checked_unit = ("S1", "L1")
    r1, r2 = read_pair("S1_L1", 6, 30, 14)
    data = bytearray(r1.encode())
    lines = data.split(b"\n")
    lines[15][4] = 0xB0  # quality line of record 4, position 5
    c.pair_files(0, gzip.compress(b"\n".join(lines), mtime=0), gz(r2))
    c.expected = [
        "quality_above_phred33/reads/S1_L1_R1.fastq.gz, row 4: quality character byte 0xB0 (code 176) at position 5 is outside Phred+33 (line 16)",
        "units.tsv: sample S1, unit L1]",
    ]


def case_sequence_not_nucleotides(c: Case) -> None:
    c.description = "a '.' no-call inside a sequence (record 2 of R1): not a nucleotide code"
    c.checked_unit = ("S1", "L1")
    r1, r2 = read_pair("S1_L1", 5, 30, 15)
    lines = r1.splitlines()
    lines[5] = lines[5][:11] + "." + lines[5][12:]  # sequence line of record 2, position 12
    c.pair_files(0, gz("\n".join(lines) + "\n"), gz(r2))
    c.expected = [
        "sequence_not_nucleotides/reads/S1_L1_R1.fastq.gz, row 2: sequence character '.' (code 46) at position 12 is not a nucleotide code",
        "units.tsv: sample S1, unit L1]",
        "IUPAC nucleotide codes",
    ]


def case_mate_file_given_twice(c: Case) -> None:
    c.description = "fq2 is a copy of fq1 (its headers say read 1): one mate file given twice"
    c.checked_unit = ("S2", "L1")
    r1, _ = read_pair("S2_L1", 5, 30, 16)
    c.pair_files(1, gz(r1), gz(r1))
    c.expected = [
        "mate_file_given_twice/reads/S2_L1_R2.fastq.gz, row 1: the first records say mate 1 in",
        "and mate 1 here (one mate file given twice, or a copy of it?)",
        "units.tsv: sample S2, unit L1]",
    ]


CASES: list[Callable[[Case], None]] = [f for name, f in sorted(globals().items()) if name.startswith("case_")]


def write_case(data_dir: Path, make: Callable[[Case], None]) -> None:
    case = base_case(make.__name__.removeprefix("case_"))
    make(case)
    folder = data_dir / "bad_inputs" / case.name
    write(folder / "samples.tsv", case.samples_text or tsv(case.samples_columns, case.samples))
    write(folder / "units.tsv", case.units_text or tsv(case.units_columns, case.units))
    for relative, content in case.files.items():
        write(folder / relative, content)
    when = "Must fail before any job" if case.checked_unit is None else "Must fail in the unit's check_fastq job, before its QC"
    write(folder / "config.yaml", config_yaml(case.folder, f"Bad-input case {case.name}: {case.description}. {when}."))
    caught = "parse time" if case.checked_unit is None else "check_fastq " + " ".join(case.checked_unit)
    expected = [f"# {case.description}", f"# problems: {case.n_problems}", f"# caught by: {caught}", *case.expected]
    write(folder / "expected.txt", "\n".join(expected) + "\n")


def write(path: Path, content: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)


def main(data_dir: Path) -> None:
    for folder in (data_dir / "good_cruise", data_dir / "good_variants", data_dir / "bad_inputs"):
        for child in folder.glob("*") if folder.exists() else []:
            if child.is_dir():
                shutil.rmtree(child)
    write_good_cruise(data_dir)
    write_good_variants(data_dir)
    write_shared_reads(data_dir)
    for make in CASES:
        write_case(data_dir, make)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(REL_DATA))
