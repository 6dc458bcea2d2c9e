"""Read, validate and clean the Global YouTube Statistics CSV.

CSV parsing is pyarrow's (multi-threaded) wherever it gives exactly what pandas' C parser gives with this module's
options, and pandas' otherwise: `parse_raw_csv` and `read_processed` check each file for what the two parse
differently and hand such files to pandas, so the frame never depends on which parser read it. Both parse decimals
correctly rounded (pyarrow always; pandas with float_precision="round_trip"). The step that writes the processed
table also records its parsed form beside it (`record_parsed_frame`), which `read_processed` loads instead of parsing
the CSV again, for those same bytes only.
"""

from __future__ import annotations

import codecs
import io
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from pandas._libs.parsers import STR_NA_VALUES

from ..core.files import atomic_write, sha256_bytes, sha256_file, write_json

RAW_COLUMNS: tuple[str, ...] = (
    "rank", "Youtuber", "subscribers", "video views", "category", "Title", "uploads",
    "Country", "Abbreviation", "channel_type", "video_views_rank", "country_rank",
    "channel_type_rank", "video_views_for_the_last_30_days", "lowest_monthly_earnings",
    "highest_monthly_earnings", "lowest_yearly_earnings", "highest_yearly_earnings",
    "subscribers_for_last_30_days", "created_year", "created_month", "created_date",
    "Gross tertiary education enrollment (%)", "Population", "Unemployment rate",
    "Urban_population", "Latitude", "Longitude",
)
TEXT_COLUMNS = frozenset({"Youtuber", "category", "Title", "Country", "Abbreviation", "channel_type", "created_month"})
REQUIRED_COLUMNS: tuple[str, ...] = (
    "Youtuber", "subscribers", "category", "uploads", "Country",
    "highest_yearly_earnings", "subscribers_for_last_30_days", "created_year",
)
REQUIRED_NUMERIC = tuple(c for c in REQUIRED_COLUMNS if c not in TEXT_COLUMNS)
YOUTUBE_FOUNDED_YEAR = 2005
DEFAULT_REFERENCE_YEAR = 2023


class DatasetError(ValueError):
    """The input file cannot be used; the message says why and what to do."""


@dataclass(frozen=True)
class RawDataset:
    frame: pd.DataFrame
    path: Path
    sha256: str
    encoding: str


@dataclass
class ProcessedDataset:
    frame: pd.DataFrame
    transformations: list[str] = field(default_factory=list)


def snake_case(name: str) -> str:
    name = name.replace("%", " pct ")
    return re.sub(r"[^0-9a-zA-Z]+", "_", name).strip("_").lower()


def csv_encoding(data: bytes, path: Path) -> str:
    """The encoding of a raw CSV, or DatasetError: 'utf-8' if it all decodes as UTF-8 (a BOM allowed), else
    'latin-1' (the Kaggle file's). Validated in slices, without decoding the whole file into one string."""
    if not data or data.isspace():
        raise DatasetError(f"{path} is empty: expected the Global YouTube Statistics CSV (995 rows, 28 columns).")
    if b"\x00" in data[:65536]:
        raise DatasetError(
            f"{path} is not a text CSV (it contains NUL bytes; UTF-16 or binary?). "
            "Save it as latin-1 or UTF-8 CSV."
        )
    decoder, view, step = codecs.getincrementaldecoder("utf-8-sig")(), memoryview(data), 1 << 24
    try:
        for start in range(0, len(data), step):
            decoder.decode(view[start:start + step])
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return "latin-1"
    return "utf-8"


def decode_csv_bytes(data: bytes, path: Path) -> tuple[str, str]:
    """Return (text, encoding). The Kaggle file is latin-1; a UTF-8 re-export is accepted too."""
    encoding = csv_encoding(data, path)
    return data.decode("utf-8-sig" if encoding == "utf-8" else "latin-1"), encoding


def parse_raw_csv(data: bytes, path: Path) -> tuple[pd.DataFrame, str]:
    encoding = csv_encoding(data, path)
    frame = _raw_frame_by_arrow(data, encoding)
    if frame is None:
        text = data.decode("utf-8-sig" if encoding == "utf-8" else "latin-1")
        try:
            frame = pd.read_csv(io.StringIO(text), skipinitialspace=True, float_precision="round_trip")
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise DatasetError(f"{path} could not be parsed as CSV: {exc}") from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    validate_raw_columns(frame, path)
    if frame.empty:
        raise DatasetError(f"{path} has a header but no data rows.")
    validate_required_numbers(frame, path)
    return frame, encoding


# pyarrow's CSV reader, told pandas' missing-value words, parses like pandas' C parser but for a few things it reads
# differently; a file holding one of them is read by pandas (see _raw_frame_by_arrow and _read_processed_by_arrow).
CSV_NA_VALUES = sorted(STR_NA_VALUES)
CSV_TRUE_VALUES, CSV_FALSE_VALUES = ["True", "TRUE", "true"], ["False", "FALSE", "false"]  # pandas' (pyarrow adds 1, 0)
_INT_EXACT = 2**53
ARROW_THREADS_FROM = 32 << 20  # bytes; below, one thread parses faster than a pool on a busy 2-core machine


def _arrow_table(data, column_types: dict | None = None):  # noqa: ANN001, ANN202 - bytes-like -> pyarrow Table | None
    """`data` (UTF-8) parsed by pyarrow with pandas' missing-value words, or None if pyarrow refuses it (a ragged row,
    an unterminated quote...): pandas then reads it, and says what is wrong if it refuses it too."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    try:
        return pacsv.read_csv(
            pa.py_buffer(data),
            read_options=pacsv.ReadOptions(use_threads=len(data) >= ARROW_THREADS_FROM),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(column_types=column_types or {}, null_values=CSV_NA_VALUES,
                                                 true_values=CSV_TRUE_VALUES, false_values=CSV_FALSE_VALUES,
                                                 strings_can_be_null=True, quoted_strings_can_be_null=True))
    except MemoryError:
        raise
    except pa.ArrowException:
        return None


def _field_starts_with(data: bytes, tokens: tuple[bytes, ...]) -> bool:
    """Whether a field starts with one of `tokens` (after spaces, a quote or a sign): numbers pandas and pyarrow
    type differently ('+5' is an int to pandas, a float to pyarrow; '0x10' text to pandas, 16 to pyarrow). Scanned
    with numpy in slices (a token's last byte, then the bytes before it), so a large file costs a few milliseconds."""
    view = np.frombuffer(data, dtype=np.uint8)
    step = 1 << 24
    for token in tokens:
        size = len(token)
        for start in range(0, len(view), step):
            hits = np.flatnonzero(view[start:start + step] == token[-1]) + start  # where the token would end
            hits = hits[hits >= size - 1]
            for offset in range(1, size):
                hits = hits[view[hits - offset] == token[-1 - offset]]
            for end in hits.tolist():
                before = end - size
                while before >= 0 and data[before] in b' "+-':
                    before -= 1
                if before < 0 or data[before] in b",\r\n":
                    return True
    return False


def _integers_read_alike(data: bytes, table) -> bool:  # noqa: ANN001 - a pyarrow Table
    """pyarrow reads '0x10' as the integer 16, pandas as text: with an integer column, no field may start so."""
    import pyarrow as pa

    return not (any(pa.types.is_integer(column.type) for column in table.columns)
                and _field_starts_with(data, (b"0x", b"0X")))


def _raw_frame_by_arrow(data: bytes, encoding: str) -> pd.DataFrame | None:
    """The raw frame pandas' C parser gives (skipinitialspace=True, types inferred), by pyarrow; None when the file
    holds something the two read differently: NUL bytes, a number pandas types otherwise ('+5', '0x10', an integer
    beyond 2**63, an overflowing exponent), a field starting with a space (pandas skips it), a header other than the
    dataset's columns (pandas renames duplicates and blanks), a column pyarrow types as neither number nor text."""
    import pyarrow as pa

    if b"\x00" in data or (b"+" in data and _field_starts_with(data, (b"+",))):
        return None
    if encoding == "utf-8":
        utf8 = memoryview(data)[3:] if data.startswith(codecs.BOM_UTF8) else data
    else:
        utf8 = data.decode("latin-1").encode("utf-8")
    table = _arrow_table(utf8)
    del utf8
    if table is None or not _integers_read_alike(data, table):
        return None
    names = [name.strip() for name in table.column_names]
    known = set(RAW_COLUMNS)
    if len(set(names)) != len(names) or not all(name in known for name in names):
        return None
    for name, column in zip(names, table.columns):
        kind = column.type
        if pa.types.is_string(kind) or pa.types.is_large_string(kind):
            if _any_starts_with_space(column):
                return None
        elif name in TEXT_COLUMNS and not pa.types.is_null(kind):
            return None  # a text column pyarrow reads as numbers: leave the inference to pandas
        elif not _plain_number_column(column):
            return None
    frame = _arrow_to_pandas(table)
    del table
    _release_arrow_memory()
    return frame


def _any_starts_with_space(column) -> bool:  # noqa: ANN001 - pyarrow ChunkedArray of strings
    import pyarrow.compute as pc

    return bool(pc.any(pc.starts_with(column, " ")).as_py())


def _plain_number_column(column) -> bool:  # noqa: ANN001 - pyarrow ChunkedArray
    """Null, int64, or float64 without infinities or integers pandas would keep as (u)int64 or text."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = column.type
    if pa.types.is_null(kind):
        return True
    if pa.types.is_int64(kind):  # with missing values pandas parses the column as floats: exact below 2**53
        if column.null_count == 0:
            return True
        bounds = pc.min_max(column).as_py()
        return bounds["min"] is None or max(-bounds["min"], bounds["max"]) <= _INT_EXACT
    if pa.types.is_float64(kind):
        values = column.to_numpy()
        with np.errstate(invalid="ignore"):
            return not (np.isinf(values).any() or (np.abs(values) >= 2.0**63).any())
    return False


def _arrow_to_pandas(table, string_columns: frozenset[str] = frozenset()) -> pd.DataFrame:  # noqa: ANN001
    """As pandas' C parser gives it: numbers as int64 (float64 with a missing value), all-missing columns float64,
    text as object with NaN for missing values, or pandas "string" for `string_columns`."""
    import pyarrow as pa

    columns = {}
    for name, column in zip(table.column_names, table.columns):
        kind = column.type
        if pa.types.is_null(kind):
            columns[name] = np.full(len(column), np.nan)
        elif pa.types.is_string(kind) or pa.types.is_large_string(kind):
            if name in string_columns:
                columns[name] = pd.StringDtype().__from_arrow__(column)
            else:
                values = column.to_numpy(zero_copy_only=False)
                if column.null_count:
                    values[pd.isna(values)] = np.nan
                columns[name] = values
        elif pa.types.is_int64(kind) and column.null_count:
            columns[name] = column.to_numpy(zero_copy_only=False).astype(np.float64)
        else:
            columns[name] = column.to_numpy(zero_copy_only=False)
    frame = pd.DataFrame(columns, copy=False)
    frame.columns = pd.Index(table.column_names, dtype=object)
    return frame


def _release_arrow_memory() -> None:
    """Hand the memory pyarrow's pool keeps after a parse back to the system: the next step's peak is not this one's."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()


def validate_raw_columns(frame: pd.DataFrame, path: Path) -> None:
    present = set(frame.columns)
    found = [c for c in RAW_COLUMNS if c in present]
    if len(found) < len(RAW_COLUMNS) // 2:
        shown = ", ".join(map(repr, list(frame.columns)[:10]))
        raise DatasetError(
            f"{path} is not the Global YouTube Statistics dataset: only {len(found)} of its "
            f"{len(RAW_COLUMNS)} columns are present (the file has: {shown}"
            f"{', ...' if len(frame.columns) > 10 else ''})."
        )
    missing = [c for c in REQUIRED_COLUMNS if c not in present]
    if missing:
        raise DatasetError(f"{path} is missing required columns: {', '.join(missing)}.")


def validate_required_numbers(frame: pd.DataFrame, path: Path) -> None:
    for column in REQUIRED_NUMERIC:
        values = pd.to_numeric(frame[column], errors="coerce")
        if values.notna().sum() == 0:
            raise DatasetError(f"{path}: required numeric column {column!r} holds no numeric values.")


def load_raw(path: Path, data: bytes | None = None, sha256: str | None = None) -> RawDataset:
    """Read (unless given its bytes) and parse the raw CSV; `sha256`, if given, is that of `data`."""
    if data is None:
        data = path.read_bytes()
    frame, encoding = parse_raw_csv(data, path)
    return RawDataset(frame=frame, path=path, sha256=sha256 or sha256_bytes(data), encoding=encoding)


# What str.strip() strips: the characters Python calls whitespace (tests/test_dataset.py checks the list).
PYTHON_WHITESPACE = ("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
                     "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")
MISSING_TEXT = ("", "nan", "NaN", "None", "null")


def clean_text(series: pd.Series) -> pd.Series:
    """As pandas "string", stripped of whitespace (as str.strip() strips it) and with "nan"-like text missing. Found
    by pyarrow; only the values it changes are replaced, the others stay the very objects of `series` (as
    str.strip() returns a string it does not change), so a million names are not held twice."""
    import pyarrow as pa
    import pyarrow.compute as pc

    text = series.astype("string")
    given = pa.array(text.array, type=pa.string())
    stripped = pc.utf8_trim(given, characters=PYTHON_WHITESPACE)
    missing = pc.is_in(stripped, value_set=pa.array(MISSING_TEXT, type=pa.string()))
    changed = pc.fill_null(pc.or_(pc.not_equal(stripped, given), missing), False).to_numpy(zero_copy_only=False)
    if changed.any():
        rows = np.flatnonzero(changed)
        replaced = pc.if_else(missing, pa.scalar(None, type=pa.string()), stripped).take(pa.array(rows))
        text = text.copy()
        text.iloc[rows] = pd.array(replaced.to_pylist(), dtype="string")
    return text


def process(raw: pd.DataFrame, reference_year: int = DEFAULT_REFERENCE_YEAR) -> ProcessedDataset:
    """snake_case names, numeric coercion, `age` against the reference year, `growth_target`. `raw` is left as it
    is; the processed frame is built from new columns (no copy of the raw frame)."""
    steps: list[str] = []
    names = [snake_case(c) for c in raw.columns]
    steps.append("column names normalized to snake_case ('%' becomes 'pct')")
    text_columns = {snake_case(c) for c in TEXT_COLUMNS}
    coerced_total = 0
    if len(set(names)) == len(names):
        columns: dict[str, pd.Series] = {}
        for name, position in zip(names, range(raw.shape[1])):
            columns[name], coerced = _clean_column(raw.iloc[:, position].rename(name), name in text_columns)
            coerced_total += coerced
        frame = pd.DataFrame(columns, index=raw.index, copy=False)
    else:  # two raw names for one snake_case name: column by column, as pandas takes duplicate names
        frame = raw.copy()
        frame.columns = names
        for column in frame.columns:
            frame[column], coerced = _clean_column(frame[column], column in text_columns)
            coerced_total += coerced
    steps.append(f"text trimmed, 'nan' text set to missing; numeric columns coerced ({coerced_total} unparseable values set to missing)")

    created = frame["created_year"]
    valid_year = created.between(YOUTUBE_FOUNDED_YEAR, reference_year)
    frame["age"] = (reference_year - created).where(valid_year)
    steps.append(
        f"age = {reference_year} - created_year; {int((created.notna() & ~valid_year).sum())} rows with created_year "
        f"outside {YOUTUBE_FOUNDED_YEAR}..{reference_year} and {int(created.isna().sum())} without one get no age"
    )
    frame["growth_target"] = frame["subscribers_for_last_30_days"]
    steps.append(
        f"growth_target = subscribers_for_last_30_days; {int(frame['growth_target'].isna().sum())} missing labels left missing"
    )
    if not _is_default_index(frame.index):  # a parsed file's index is: then the table is not copied
        frame = frame.reset_index(drop=True)
    return ProcessedDataset(frame=frame, transformations=steps)


def _is_default_index(index: pd.Index) -> bool:
    return isinstance(index, pd.RangeIndex) and index.equals(pd.RangeIndex(len(index)))


def _clean_column(values: pd.Series, text: bool) -> tuple[pd.Series, int]:
    """(the cleaned column, how many given values were not numbers) of a text or a numeric column."""
    if text:
        return clean_text(values), 0
    numbers = pd.to_numeric(values, errors="coerce").astype("float64")
    coerced = 0
    if not pd.api.types.is_numeric_dtype(values):  # text that was not a number (blanks and 'nan' do not count)
        given = values.notna() & ~values.astype(str).str.strip().isin(["nan", ""])
        coerced = int((given & numbers.isna()).sum())
    return numbers, coerced


PROCESSED_TEXT_COLUMNS = frozenset(snake_case(c) for c in TEXT_COLUMNS)


def read_processed(path: Path, columns: Sequence[str] | None = None, sha256: str | None = None) -> pd.DataFrame:
    """A CSV this project wrote (the processed table, the feature snapshot, clustered channels): text columns of the
    dataset as pandas "string", the rest as pandas' C parser types them. With `columns`, only those, in that order
    (KeyError for one the file lacks). When the CSV's parsed form was recorded beside it (`record_parsed_frame`) for
    these very bytes, that is read instead of the CSV: the same frame, several times faster, and only the columns
    asked for. `sha256`: the file's, when the caller has just hashed it (else it is hashed here, if there is a
    recorded form to check)."""
    frame = _recorded_parsed_frame(path, columns, sha256)
    if frame is None:
        frame = parse_processed(path.read_bytes())
        if columns is not None:
            frame = frame.loc[:, list(columns)]
    return frame


def parse_processed(data: bytes) -> pd.DataFrame:
    frame = _read_processed_by_arrow(data)
    if frame is None:
        frame = pd.read_csv(io.BytesIO(data), dtype={c: "string" for c in PROCESSED_TEXT_COLUMNS},
                            float_precision="round_trip")
    return frame


def _read_processed_by_arrow(data: bytes) -> pd.DataFrame | None:
    """`read_processed` by pyarrow; None for a file it would read otherwise than pandas (see _raw_frame_by_arrow):
    then pandas reads it."""
    table = _processed_arrow_table(data)
    if table is None:
        return None
    frame = _arrow_to_pandas(table, PROCESSED_TEXT_COLUMNS)
    del table
    _release_arrow_memory()
    return frame


def _processed_arrow_table(data: bytes):  # noqa: ANN202 - pyarrow Table | None
    """The Arrow table `_read_processed_by_arrow` turns into the frame; None for a file pandas must read. Columns
    pyarrow reads as dates or times are read again as text, as pandas reads them."""
    import pyarrow as pa

    if not data or b"\x00" in data or data.startswith(codecs.BOM_UTF8) or \
            (b"+" in data and _field_starts_with(data, (b"+",))):
        return None
    table = _arrow_table(data, {c: pa.string() for c in PROCESSED_TEXT_COLUMNS})
    if table is None or not _integers_read_alike(data, table):
        return None
    names = table.column_names
    if len(set(names)) != len(names) or not all(names):
        return None
    as_text = {name: pa.string() for name, column in zip(names, table.columns) if _date_or_time(column.type)}
    if as_text:
        table = _arrow_table(data, {**{c: pa.string() for c in PROCESSED_TEXT_COLUMNS}, **as_text})
        if table is None:
            return None
    for name, column in zip(names, table.columns):
        kind = column.type
        if pa.types.is_string(kind):
            if name not in PROCESSED_TEXT_COLUMNS and _any_starts_with_space(column):
                return None
        elif pa.types.is_boolean(kind):
            if column.null_count:
                return None  # pandas keeps a boolean column with missing values as text
        elif not _plain_number_column(column):
            return None
    return table


# --- the parsed form of a CSV, kept beside it -------------------------------------------------------------------
# Several steps read the processed table; parsing its CSV costs each of them seconds at a million rows. The step
# that writes it parses it once more and keeps the Arrow table that parse gives (before the conversion to pandas,
# which readers then apply alike) as Parquet, tagged with the CSV's sha256: a reader uses it only for those bytes.
PARSED_FRAME_FORMAT = b"1"
_PARSED_SHA256_KEY, _PARSED_FORMAT_KEY = b"yts.csv_sha256", b"yts.parsed_frame_format"


def parsed_frame_path(csv_path: Path) -> Path:
    """Where `record_parsed_frame` keeps the parsed form of `csv_path`, beside it."""
    return csv_path.with_name(csv_path.stem + ".parsed.parquet")


def record_parsed_frame(csv_path: Path, csv_sha256: str) -> bool:
    """Parse the CSV this project just wrote as `read_processed` does and keep the result beside it, for readers of
    these bytes (`csv_sha256`, refused if the file no longer has it). False, and nothing kept, for a file that
    pandas parses (see `parse_processed`): its readers parse the CSV."""
    import pyarrow.parquet as pq

    target = parsed_frame_path(csv_path)
    data = csv_path.read_bytes()
    if sha256_bytes(data) != csv_sha256:
        raise DatasetError(f"{csv_path} changed while its parsed form was being recorded: write it again.")
    table = _processed_arrow_table(data)
    del data
    if table is None:
        target.unlink(missing_ok=True)
        return False
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), _PARSED_SHA256_KEY: csv_sha256.encode(),
                                           _PARSED_FORMAT_KEY: PARSED_FRAME_FORMAT})
    atomic_write(target, lambda tmp: pq.write_table(table, tmp, compression="lz4"))
    del table
    _release_arrow_memory()
    return True


def _recorded_parsed_frame(csv_path: Path, columns: Sequence[str] | None, sha256: str | None) -> pd.DataFrame | None:
    """The frame `record_parsed_frame` kept for the bytes `csv_path` holds now; None when there is none (or it is
    unreadable, or of other bytes or another format): the CSV is parsed then."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    recorded = parsed_frame_path(csv_path)
    if not recorded.is_file():
        return None
    try:
        metadata = pq.read_schema(recorded).metadata or {}
        if metadata.get(_PARSED_FORMAT_KEY) != PARSED_FRAME_FORMAT or \
                metadata.get(_PARSED_SHA256_KEY) != (sha256 or sha256_file(csv_path)).encode():
            return None
        table = pq.read_table(recorded, columns=None if columns is None else list(dict.fromkeys(columns)))
    except (pa.ArrowException, OSError):
        return None
    if columns is not None:
        missing = [name for name in columns if name not in table.column_names]
        if missing:
            raise KeyError(f"{csv_path} has no column {', '.join(missing)}")
        table = table.select(list(columns))
    frame = _arrow_to_pandas(table, PROCESSED_TEXT_COLUMNS)
    del table
    _release_arrow_memory()
    return frame


def _date_or_time(kind) -> bool:  # noqa: ANN001 - a pyarrow DataType
    import pyarrow as pa

    return pa.types.is_timestamp(kind) or pa.types.is_date(kind) or pa.types.is_time(kind)


def transformations_path(processed_csv: Path) -> Path:
    """Where processed_channels records the transformations it applied, beside the processed CSV."""
    return processed_csv.with_name(processed_csv.stem + ".transformations.json")


def record_transformations(processed_csv: Path, processed_sha256: str, transformations: list[str]) -> str:
    return write_json(transformations_path(processed_csv),
                      {"processed_sha256": processed_sha256, "transformations": transformations})


def recorded_transformations(processed_csv: Path, processed_sha256: str) -> list[str] | None:
    """The transformations recorded beside `processed_csv` when it had this sha256; None if none were (a run from
    before they were recorded) or they describe other bytes."""
    record_path = transformations_path(processed_csv)
    if not record_path.is_file():
        return None
    record = json.loads(record_path.read_text(encoding="utf-8"))
    return list(record["transformations"]) if record.get("processed_sha256") == processed_sha256 else None


def numeric_summary(frame: pd.DataFrame) -> dict[str, dict[str, float]]:
    """`describe()` of the numeric columns, column by column (the same figures; no copy of the frame)."""
    numeric = frame.iloc[:0].select_dtypes(include=[np.number]).columns
    return {
        column: {stat: (None if pd.isna(value) else round(float(value), 6))
                 for stat, value in frame[column].describe().items()}
        for column in numeric
    }
