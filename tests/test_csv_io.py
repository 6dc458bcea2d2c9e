"""The fast CSV paths give exactly what pandas gives: write_csv the bytes of `to_csv`, parse_raw_csv and
read_processed the frames of pandas' C parser; files they cannot promise that for go to pandas itself."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from yts_assets.core.files import _fast_csv_chunks, csv_bytes, sha256_file, write_csv
from yts_assets.ml import dataset
from yts_assets.ml.dataset import (
    PROCESSED_TEXT_COLUMNS,
    PYTHON_WHITESPACE,
    RAW_COLUMNS,
    DatasetError,
    parse_raw_csv,
    process,
    read_processed,
)
from yts_assets.ml.demo import demo_csv_bytes, generate_demo_frame
from yts_assets.ml.features import channel_id, channel_ids, feature_snapshot

HOSTILE_TEXT = ["plain", "a,b", 'q"x', '"', ",", "n\nl", "r\rx", "t\tx", " lead", "trail ", "é ü", "😀", "\x0bv", "\x85h",
                "\u2028x", "NA", "N/A", "null", "None", "nan", "<NA>", "#N/A", "-nan", "1.#IND", "007", "1e5", "True",
                "2023-01-01", "+5", "0x10", "", None]


def pandas_csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False, lineterminator="\n").encode("utf-8")


def edge_floats(rng: np.random.Generator, n: int) -> np.ndarray:
    values = np.concatenate([
        rng.uniform(-1000, 1000, n), np.round(rng.uniform(-1e6, 1e6, n), 3), np.round(10 ** rng.uniform(-3, 19, n)),
        10 ** rng.uniform(-8, 25, n) * rng.choice([-1, 1], n), rng.standard_normal(n) * 1e-4,
        [np.nan, np.inf, -np.inf, -0.0, 0.0, 1e16, -1e16, 1e15 + 1, 1e-4, 9.9999e-5, 9999999999.999998, 1e10,
         1e10 + 0.5, 0.1, 5e-324, 1.7976931348623157e308, 2.0**63, -(2.0**63), 2.0**53 + 2],
    ])
    return values[rng.permutation(len(values))]


def test_write_csv_is_pandas_to_csv_byte_for_byte(tmp_path: Path):
    rng = np.random.default_rng(11)
    floats = edge_floats(rng, 20_000)
    n = len(floats)
    text = np.array(HOSTILE_TEXT, dtype=object)
    frame = pd.DataFrame({
        "f": floats, "i": rng.integers(-2**62, 2**62, n), "u": rng.integers(0, 2**63, n, dtype=np.uint64),
        "small": rng.integers(-5, 5, n).astype(np.int8), "b": rng.random(n) > 0.5,
        "s": pd.array(text[rng.integers(0, len(text), n)], dtype="string"),
        "o": text[rng.integers(0, len(text), n)],
        "empty": pd.Series([None] * n, dtype=object), "nan": np.nan,
        "quoted, name": 1.5, 'q"uote': "x",
    })
    expected = pandas_csv(frame)
    assert csv_bytes(frame) == expected
    assert b"".join(_fast_csv_chunks(frame, chunk_rows=7_777)) == expected  # chunk edges anywhere
    digest = write_csv(tmp_path / "out.csv", frame)
    assert (tmp_path / "out.csv").read_bytes() == expected and digest == sha256_file(tmp_path / "out.csv")
    assert write_csv(tmp_path / "again.csv", frame.copy()) == digest  # same frame, same bytes


@pytest.mark.parametrize("frame", [
    pd.DataFrame({"only": [1.0, np.nan, 2.5]}),  # one column: pandas quotes an empty field
    pd.DataFrame({"a": [], "b": []}),
    pd.DataFrame({"a": [1.0, 2.0], "mixed": [1, "x"]}),  # object column that is not all text
    pd.DataFrame({"a": [1.0, 2.0], "cat": pd.Categorical(["x", "y"])}),
    pd.DataFrame({"a": np.array([0.1, 1e20], dtype=np.float32), "b": [1, 2]}),
    pd.DataFrame({"a": pd.to_datetime(["2023-01-01", None]), "b": [1, 2]}),
    pd.DataFrame({"a": pd.array([1, None], dtype="Int64"), "b": [1, 2]}),
    pd.DataFrame({0: [1.0], 1: [2.0]}),  # labels that are not text
], ids=["single", "empty", "mixed", "category", "float32", "datetime", "nullable-int", "int-labels"])
def test_frames_the_fast_writer_leaves_to_pandas(frame: pd.DataFrame, tmp_path: Path):
    assert csv_bytes(frame) == pandas_csv(frame)
    write_csv(tmp_path / "x.csv", frame)
    assert (tmp_path / "x.csv").read_bytes() == pandas_csv(frame)


def test_text_pandas_cannot_encode_fails_as_before_and_leaves_no_file(tmp_path: Path):
    frame = pd.DataFrame({"a": [1.0, 2.0], "s": pd.array(["fine", "lone \ud800 surrogate"], dtype="string")})
    with pytest.raises(UnicodeEncodeError):
        pandas_csv(frame)
    with pytest.raises(UnicodeEncodeError):
        write_csv(tmp_path / "bad.csv", frame)
    assert list(tmp_path.iterdir()) == []


def test_float_formatting_matches_numpy_over_every_range():
    """pyarrow writes 1e-4 <= |x| < 1e10 with the same shortest digits as numpy: if a pyarrow upgrade changed that,
    the processed CSV's bytes (and so its hash) would change. A million values over the range, and its edges."""
    rng = np.random.default_rng(5)
    values = np.concatenate([10 ** rng.uniform(-4, 10, 600_000) * rng.choice([-1, 1], 600_000),
                             rng.uniform(-1, 1, 200_000), np.round(rng.uniform(0, 1e10, 200_000), 2),
                             np.nextafter(1e10, 0) - np.arange(100), 1e-4 + np.arange(100) * 1e-20])
    frame = pd.DataFrame({"x": values, "y": 0.0})
    assert csv_bytes(frame) == pandas_csv(frame)


def test_python_whitespace_is_what_str_strip_strips():
    assert set(PYTHON_WHITESPACE) == {chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()}
    values = pd.Series([" \x1c a \u3000", "\x85b\xa0", "nan", " None ", "", None, np.nan, 5, "null"], dtype=object)
    expected = values.astype("string").str.strip()
    expected = expected.mask(expected.isin(["", "nan", "NaN", "None", "null"]))
    pd.testing.assert_series_equal(dataset.clean_text(values), expected)


def test_channel_ids_are_channel_id_of_each_name():
    names = pd.Series([" MrBeast ", "mrbeast", "Straße", "STRASSE", None, "😀"], dtype="string")
    assert channel_ids(names).tolist() == names.astype(str).map(channel_id).tolist()


# --- parsing: the reference is pandas' C parser with the options the pyarrow path reproduces -----------------------

def old_decode(data: bytes) -> tuple[str, str]:
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"


def pandas_raw(data: bytes, path: Path) -> pd.DataFrame:
    text, _ = old_decode(data)
    frame = pd.read_csv(io.StringIO(text), skipinitialspace=True, float_precision="round_trip")
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def header() -> str:
    return ",".join(RAW_COLUMNS)


def demo_text() -> str:
    return demo_csv_bytes().decode("latin-1")


def with_row_edit(edit) -> str:  # noqa: ANN001
    """The demo CSV with its third data line changed by `edit` (a list of 28 fields -> fields)."""
    lines = demo_text().split("\n")
    lines[3] = ",".join(edit(lines[3].split(",")))
    return "\n".join(lines)


def field(name: str) -> int:
    return RAW_COLUMNS.index(name)


def set_field(name: str, value: str):  # noqa: ANN201
    def edit(fields: list[str]) -> list[str]:
        fields[field(name)] = value
        return fields
    return edit


RAW_VARIANTS = {
    "demo": demo_text(),
    "crlf": demo_text().replace("\n", "\r\n"),
    "bom": "\ufeff" + demo_text(),
    "quoted text with comma and newline": with_row_edit(set_field("Title", '"a, b\nc ""q"""')),
    "leading space before number": with_row_edit(set_field("uploads", " 12")),
    "leading space before text": with_row_edit(set_field("Title", " spaced")),
    "space before a quote": with_row_edit(set_field("Title", ' "x,y"')),
    "blank field of spaces": with_row_edit(set_field("Country", "  ")),
    "plus sign": with_row_edit(set_field("rank", "+5")),
    "hex": with_row_edit(set_field("rank", "0x10")),
    "huge integer": with_row_edit(set_field("rank", "99999999999999999999")),
    "overflowing exponent": with_row_edit(set_field("subscribers", "1e400")),
    "infinity": with_row_edit(set_field("subscribers", "inf")),
    "text in a number column": with_row_edit(set_field("uploads", "many")),
    "na words": with_row_edit(set_field("category", "N/A")),
    "quoted na": with_row_edit(set_field("Youtuber", '"NA"')),
    "true in text": with_row_edit(set_field("Youtuber", "True")),
    "date in text": with_row_edit(set_field("Youtuber", "2023-01-01")),
    "long decimals": with_row_edit(set_field("Latitude", "20.59368400000000012345")),
    "nul byte late": demo_text() + "x" * 70_000 + "\x00",
    "missing column": "\n".join(",".join(f for i, f in enumerate(line.split(",")) if i != field("Latitude"))
                                for line in demo_text().split("\n")),
    "short row": demo_text().rstrip("\n") + "\n1,2,3\n",
    "long row": demo_text().rstrip("\n") + "\n" + ",".join(["1"] * 29) + "\n",
    "duplicate header": demo_text().replace("Latitude", "Longitude", 1),
    "spaced header": demo_text().replace("Country", " Country ", 1),
    "empty column": "\n".join(",".join("" if i == field("Title") and n else f for i, f in enumerate(line.split(",")))
                              for n, line in enumerate(demo_text().split("\n"))),
}


# what pyarrow would read otherwise than pandas: these files are read by pandas
READ_BY_PANDAS = {"blank field of spaces", "duplicate header", "hex", "huge integer", "infinity", "leading space before text",
                  "long row", "nul byte late", "overflowing exponent", "plus sign", "short row", "space before a quote"}


@pytest.mark.parametrize("name", sorted(RAW_VARIANTS))
@pytest.mark.parametrize("encoding", ["utf-8", "latin-1"])
def test_raw_parse_is_pandas_parse(name: str, encoding: str, tmp_path: Path):
    text = RAW_VARIANTS[name]
    try:
        data = text.encode(encoding)
    except UnicodeEncodeError:
        pytest.skip("not representable")
    path = tmp_path / "raw.csv"
    try:
        expected = pandas_raw(data, path)
        dataset.validate_raw_columns(expected, path)
    except (DatasetError, pd.errors.ParserError) as exc:
        with pytest.raises(DatasetError) as error:
            parse_raw_csv(data, path)
        assert type(exc).__name__ == "DatasetError" or "could not be parsed" in str(error.value)
        return
    frame, found = parse_raw_csv(data, path)
    pd.testing.assert_frame_equal(frame, expected, check_exact=True, check_column_type=True)
    assert found == old_decode(data)[1]
    assert (dataset._raw_frame_by_arrow(data, found) is None) == (name in READ_BY_PANDAS)


def test_the_real_and_upsampled_data_take_the_fast_path(real_csv: Path, tmp_path: Path):
    data = real_csv.read_bytes()
    assert dataset._raw_frame_by_arrow(data, "latin-1") is not None
    frame, encoding = parse_raw_csv(data, real_csv)
    pd.testing.assert_frame_equal(frame, pandas_raw(data, real_csv), check_exact=True, check_column_type=True)
    assert encoding == "latin-1"
    upsample = pd.read_csv(io.BytesIO(data), encoding="latin-1").sample(5_000, replace=True, random_state=3)
    upsample["Youtuber"] = upsample["Youtuber"].astype(str) + " #" + pd.Series(range(5_000), index=upsample.index).astype(str)
    utf8 = upsample.to_csv(index=False).encode("utf-8")
    assert dataset._raw_frame_by_arrow(utf8, "utf-8") is not None
    pd.testing.assert_frame_equal(parse_raw_csv(utf8, tmp_path / "u.csv")[0], pandas_raw(utf8, tmp_path / "u.csv"),
                                  check_exact=True, check_column_type=True)


def pandas_processed(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype={c: "string" for c in PROCESSED_TEXT_COLUMNS}, float_precision="round_trip")


def test_read_processed_is_pandas_read_and_round_trips_exactly(tmp_path: Path):
    processed = process(generate_demo_frame()).frame
    rng = np.random.default_rng(2)
    processed["latitude"] = rng.standard_normal(len(processed)) * 30  # 17-digit decimals
    # a field starting with a number sign is read by pandas (below); pandas' writer leaves a lone \r unquoted, so
    # such text cannot come back from any CSV reader
    left_out = {"+5", "r\rx"}
    text = np.array([t for t in HOSTILE_TEXT if t is not None and t not in left_out], dtype=object)
    processed["title"] = pd.array(text[rng.integers(0, len(text), len(processed))], dtype="string")
    path = tmp_path / "processed.csv"
    write_csv(path, processed)
    frame = read_processed(path)
    assert dataset._read_processed_by_arrow(path.read_bytes()) is not None
    pd.testing.assert_frame_equal(frame, pandas_processed(path), check_exact=True, check_column_type=True)
    numeric = processed.select_dtypes("number").columns  # floats come back bit for bit (pandas' default parser did not)
    pd.testing.assert_frame_equal(frame[numeric], processed[numeric], check_exact=True)
    processed.loc[3, "title"] = "+5"
    write_csv(path, processed)
    assert dataset._read_processed_by_arrow(path.read_bytes()) is None
    pd.testing.assert_frame_equal(read_processed(path), pandas_processed(path), check_exact=True)

    snapshot = feature_snapshot(processed, "2023-12-31T00:00:00+00:00")
    write_csv(tmp_path / "snapshot.csv", snapshot)
    read = read_processed(tmp_path / "snapshot.csv")
    assert read["event_timestamp"].dtype == object and read["event_timestamp"].iloc[0] == "2023-12-31T00:00:00+00:00"
    pd.testing.assert_frame_equal(read, pandas_processed(tmp_path / "snapshot.csv"), check_exact=True)

    clustered = pd.DataFrame({"channel_id": snapshot["channel_id"], "youtuber": processed["youtuber"],
                              "uploads": processed["uploads"], "growth_known": processed["growth_target"].notna(),
                              "kmeans_cluster": rng.integers(0, 4, len(processed)), "archetype": "steady"})
    write_csv(tmp_path / "clustered.csv", clustered)
    pd.testing.assert_frame_equal(read_processed(tmp_path / "clustered.csv"), pandas_processed(tmp_path / "clustered.csv"),
                                  check_exact=True)


@pytest.mark.parametrize("text", [
    "youtuber,x\na,1\nb,\n",
    "youtuber,x,when\na,1,2023-01-01\nb,2,2023-01-02\n",
    "youtuber,x,at\na,1,12:30\nb,2,13:00\n",
    "youtuber,flag\na,True\nb,\n",
    "youtuber,flag\na,True\nb,1\n",
    "youtuber,flag\na,true\nb,FALSE\n",
    "youtuber,x\na,+5\nb,2\n",
    "youtuber,x\na,0x10\nb,2\n",
    "youtuber,x\na, 5\nb,  \n",
    "a,a\n1,2\n",
    "youtuber,x,\na,1,2\n",
    "youtuber,x\na,1\nb,2,3\n",
    "youtuber,x\n\"a\nb\",1\n",
    "\ufeffyoutuber,x\na,1\n",
], ids=["missing", "dates", "times", "bool-with-missing", "bool-and-1", "bools", "plus", "hex", "spaces", "duplicate-names", "blank-name",
        "ragged", "newline", "bom"])
def test_read_processed_of_odd_files_is_pandas_read(text: str, tmp_path: Path):
    path = tmp_path / "odd.csv"
    path.write_text(text, encoding="utf-8")
    try:
        expected = pandas_processed(path)
    except pd.errors.ParserError:
        with pytest.raises(pd.errors.ParserError):
            read_processed(path)
        return
    pd.testing.assert_frame_equal(read_processed(path), expected, check_exact=True, check_column_type=True)


FUZZ_TOKENS = ["1", "0", "-3", "12.5", "1e5", "1E-3", ".5", "5.", "+5", "0x1f", "007", "inf", "-inf", "nan", "NaN", "NA",
               "N/A", "", " ", "  3", "3 ", "abc", "a b", '"q,x"', '"a""b"', '" s"', "True", "false", "TRUE", "2023-01-01",
               "12:30", "99999999999999999999", "9007199254740993", "1.2345678901234567890", "é", "#N/A", "null", "None",
               "-", "1_000", '"5"', "x\ty", "1e400", "-0"]


def fuzz_csv(rng) -> str:  # noqa: ANN001 - random.Random
    """A raw CSV in the dataset's shape (columns sometimes shuffled) with, at a random rate, odd tokens anywhere."""
    columns = list(RAW_COLUMNS)
    if rng.random() < 0.1:
        rng.shuffle(columns)
    kinds = {c: ("text" if c in dataset.TEXT_COLUMNS else rng.choice(["int", "float"])) if rng.random() > 0.03
             else "mixed" for c in columns}
    odd_rate, odd = rng.choice([0, 0.002, 0.01, 0.03]), rng.sample(FUZZ_TOKENS, rng.randint(1, 6))
    rows = []
    for _ in range(rng.randint(1, 30)):
        fields = []
        for column in columns:
            kind = kinds[column]
            if kind == "int":
                token = str(rng.randint(-1000, 10**6)) if rng.random() > odd_rate else rng.choice(odd)
            elif kind == "float":
                token = repr(round(rng.uniform(-1e6, 1e6), rng.randint(0, 17))) if rng.random() > odd_rate \
                    else rng.choice(odd)
            elif kind == "text":
                token = rng.choice(["alpha", "beta", "Gamma z", '"x,y"', "delta"]) if rng.random() > odd_rate * 3 \
                    else rng.choice(odd)
            else:
                token = rng.choice(odd)
            fields.append(token)
        rows.append(",".join(fields))
    return ",".join(columns) + "\n" + "\n".join(rows) + ("\n" if rng.random() < 0.8 else "")


def test_fuzzed_files_parse_as_pandas_parses_them(tmp_path: Path):
    import random

    rng, path, paths_taken = random.Random(11), tmp_path / "fuzz.csv", set()
    for _ in range(150):
        text = fuzz_csv(rng)
        data = text.encode("latin-1" if rng.random() < 0.5 and all(ord(c) < 256 for c in text) else "utf-8")
        try:
            expected = pandas_raw(data, path)
            dataset.validate_raw_columns(expected, path)
            if expected.empty:
                raise DatasetError("no rows")
            dataset.validate_required_numbers(expected, path)
        except (DatasetError, pd.errors.ParserError):
            with pytest.raises(DatasetError):
                parse_raw_csv(data, path)
        else:
            pd.testing.assert_frame_equal(parse_raw_csv(data, path)[0], expected, check_exact=True,
                                          check_column_type=True)
            paths_taken.add(dataset._raw_frame_by_arrow(data, dataset.csv_encoding(data, path)) is not None)
        processed = text.replace("Youtuber", "youtuber").replace("Title", "title").encode("utf-8")
        path.write_bytes(processed)
        try:
            expected = pandas_processed(path)
        except pd.errors.ParserError:
            with pytest.raises(pd.errors.ParserError):
                read_processed(path)
        else:
            pd.testing.assert_frame_equal(read_processed(path), expected, check_exact=True, check_column_type=True)
    assert paths_taken == {True, False}  # both parsers were exercised


# --- the parsed form recorded beside a CSV (record_parsed_frame) ----------------------------------------------------

def hostile_processed(rows_from: int = 0) -> pd.DataFrame:
    processed = process(generate_demo_frame()).frame
    rng = np.random.default_rng(5 + rows_from)
    # read by pyarrow (a '+5' field or, beside an integer column, a '0x10' one would send the file to pandas)
    text = np.array([t for t in HOSTILE_TEXT if t is not None and t not in {"+5", "0x10", "r\rx"}], dtype=object)
    processed["title"] = pd.array(text[rng.integers(0, len(text), len(processed))], dtype="string")
    processed["latitude"] = rng.standard_normal(len(processed)) * 30
    processed["all_missing"] = np.nan
    processed["flag"] = rng.random(len(processed)) > 0.5
    processed["count"] = rng.integers(-5, 5, len(processed))
    return processed


def test_a_recorded_parsed_frame_is_the_csvs_frame_and_its_columns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "processed.csv"
    digest = write_csv(path, hostile_processed())
    parsed = read_processed(path)
    assert dataset.record_parsed_frame(path, digest) and dataset.parsed_frame_path(path).is_file()
    with monkeypatch.context() as patch:
        patch.setattr(dataset, "parse_processed", lambda data: pytest.fail("the CSV was parsed"))
        recorded = read_processed(path)
        chosen = ["country", "flag", "youtuber", "all_missing", "age"]
        some = read_processed(path, chosen, sha256=digest)
    pd.testing.assert_frame_equal(recorded, parsed, check_exact=True, check_column_type=True)
    pd.testing.assert_frame_equal(some, parsed[chosen], check_exact=True, check_column_type=True)
    with pytest.raises(KeyError):
        read_processed(path, ["country", "no_such_column"])


def test_a_parsed_frame_of_other_bytes_or_unreadable_is_not_used(tmp_path: Path):
    path = tmp_path / "processed.csv"
    dataset.record_parsed_frame(path, write_csv(path, hostile_processed()))
    recorded = dataset.parsed_frame_path(path).read_bytes()
    changed = hostile_processed(rows_from=1)
    write_csv(path, changed)  # new bytes, the old parsed form still beside them
    pd.testing.assert_frame_equal(read_processed(path), pandas_processed(path), check_exact=True)
    assert not read_processed(path)["title"].equals(pd.read_parquet(dataset.parsed_frame_path(path))["title"])
    dataset.parsed_frame_path(path).write_bytes(recorded[: len(recorded) // 2])  # torn
    pd.testing.assert_frame_equal(read_processed(path), pandas_processed(path), check_exact=True)
    with pytest.raises(DatasetError, match="changed"):
        dataset.record_parsed_frame(path, "0" * 64)


def test_a_file_pandas_must_read_gets_no_parsed_frame(tmp_path: Path):
    path = tmp_path / "processed.csv"
    processed = hostile_processed()
    dataset.record_parsed_frame(path, write_csv(path, processed))
    processed.loc[3, "title"] = "+5"  # read by pandas (see above): the earlier parsed form must go
    assert not dataset.record_parsed_frame(path, write_csv(path, processed))
    assert not dataset.parsed_frame_path(path).exists()
    pd.testing.assert_frame_equal(read_processed(path), pandas_processed(path), check_exact=True)


def test_process_gives_a_fresh_range_index_whatever_the_raw_index():
    raw = generate_demo_frame()
    expected = process(raw).frame
    assert isinstance(expected.index, pd.RangeIndex) and expected.index.equals(pd.RangeIndex(len(raw)))
    shuffled = process(raw.set_axis(np.arange(len(raw))[::-1] * 3)).frame
    pd.testing.assert_frame_equal(shuffled, expected, check_exact=True)
    assert isinstance(shuffled.index, pd.RangeIndex)
