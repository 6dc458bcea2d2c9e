"""Atomic file writes and content hashes, and a fast deterministic CSV writer."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def atomic_write(path: Path, write: Callable[[Path], None]) -> str:
    """Write through a temp file in the same folder, fsync, rename; return the sha256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        digest = sha256_file(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return digest


def atomic_write_chunks(path: Path, chunks: Iterable[bytes]) -> str:
    """`atomic_write` of a stream of byte chunks, hashed as they are written (the file is not read back)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    digest = hashlib.sha256()
    try:
        with open(fd, "wb") as handle:
            for chunk in chunks:
                digest.update(chunk)
                handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return digest.hexdigest()


def write_bytes(path: Path, data: bytes) -> str:
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


def write_text(path: Path, text: str) -> str:
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: Path, payload: Any) -> str:
    text = json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n"
    return write_bytes(path, text.encode("utf-8"))


def write_csv(path: Path, frame: pd.DataFrame) -> str:
    """Deterministic CSV: same frame, same bytes, and the same bytes as pandas' `to_csv(index=False,
    lineterminator="\\n")` in UTF-8 (see `_fast_csv_chunks`), written in chunks of rows and hashed as it goes."""
    try:
        return atomic_write_chunks(path, _fast_csv_chunks(frame))
    except _NotFast:  # found part way: the temp file is gone, pandas writes the whole frame
        return atomic_write_chunks(path, [_pandas_csv(frame)])


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """What `write_csv` writes."""
    try:
        return b"".join(_fast_csv_chunks(frame))
    except _NotFast:
        return _pandas_csv(frame)


def _pandas_csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False, lineterminator="\n").encode("utf-8")


# The CSV writer pandas uses (the csv module, QUOTE_MINIMAL, lineterminator "\n") quotes a field that holds one of
# these characters; asked of the csv module itself, so the fast writer quotes exactly as it does.
def _csv_quoted_characters() -> tuple[str, frozenset[str]]:
    quoted, refused = [], []
    for code in (*range(128), 0x85, 0x2028, 0x2029):
        buffer = io.StringIO()
        try:
            csv.writer(buffer, lineterminator="\n").writerow([f"a{chr(code)}b", "x"])
        except csv.Error:
            refused.append(chr(code))
            continue
        if buffer.getvalue().startswith('"'):
            quoted.append(chr(code))
    return "[" + "".join(re.escape(c) for c in quoted) + "]", frozenset(refused)


CSV_QUOTED, CSV_REFUSED = _csv_quoted_characters()
CSV_CHUNK_ROWS = 100_000
CSV_THREADS = 2


class _NotFast(Exception):
    """The frame holds something the fast writer does not format exactly as pandas: pandas writes it."""


def _fast_csv_chunks(frame: pd.DataFrame, chunk_rows: int = CSV_CHUNK_ROWS) -> Iterator[bytes | memoryview]:
    """The frame as UTF-8 CSV in chunks of rows, byte for byte what `frame.to_csv(index=False, lineterminator="\\n")`
    gives: floats as numpy's repr ('12.0', '0.25', '1e+16'), missing values empty, text quoted only when it holds a
    comma, a quote or a newline. Plain float64, integer, boolean and text columns are formatted by pyarrow,
    vectorized, two columns at a time; anything else (other dtypes, object columns that are not all text, a single
    column, text pyarrow cannot encode) raises _NotFast, before the first chunk or part way, and pandas writes it."""
    columns = _fast_columns(frame)
    header = io.StringIO()
    csv.writer(header, lineterminator="\n").writerow(list(frame.columns))
    yield header.getvalue().encode("utf-8")
    with ThreadPoolExecutor(CSV_THREADS) as pool:  # pyarrow's kernels release the GIL
        for start in range(0, len(frame), chunk_rows):
            part = frame.iloc[start:start + chunk_rows]
            yield _csv_rows(list(pool.map(format_column, (part.iloc[:, i] for i in columns))))
    import pyarrow as pa

    pa.default_memory_pool().release_unused()  # what the chunks used goes back to the system


def _fast_columns(frame: pd.DataFrame) -> list[int]:
    if frame.shape[1] < 2 or len(frame) == 0 or not all(isinstance(c, str) for c in frame.columns):
        raise _NotFast  # a single column's empty field is quoted; leave the rare shapes to pandas
    for i in range(frame.shape[1]):
        column = frame.iloc[:, i]
        dtype = column.dtype
        if isinstance(dtype, pd.StringDtype):
            continue
        if isinstance(dtype, np.dtype) and (dtype == np.float64 or dtype.kind in "iub"):
            continue
        if dtype == object and pd.api.types.infer_dtype(column, skipna=True) in ("string", "empty"):
            continue
        raise _NotFast
    return list(range(frame.shape[1]))


def format_column(column: pd.Series):  # noqa: ANN201 - a pyarrow StringArray, no nulls
    """One column's CSV fields, as pandas writes them."""
    import pyarrow as pa
    import pyarrow.compute as pc

    dtype = column.dtype
    if isinstance(dtype, np.dtype) and dtype == np.float64:
        return _format_floats(column.to_numpy())
    if isinstance(dtype, np.dtype) and dtype.kind == "b":
        return pa.array(np.where(column.to_numpy(), "True", "False"), type=pa.string())
    if isinstance(dtype, np.dtype) and dtype.kind in "iu":
        return pc.cast(pa.array(column.to_numpy()), pa.string())
    values = column.to_numpy(dtype=object, na_value=None)
    try:
        text = pa.array(values, type=pa.string(), from_pandas=True)
    except (pa.ArrowException, UnicodeError) as exc:
        raise _NotFast from exc
    if CSV_REFUSED and pc.any(pc.match_substring_regex(
            text, "[" + "".join(re.escape(c) for c in CSV_REFUSED) + "]")).as_py():
        raise _NotFast
    quote = pc.match_substring_regex(text, CSV_QUOTED)
    if pc.any(quote).as_py():
        quoted = pc.binary_join_element_wise('"', pc.replace_substring(text, '"', '""'), '"', "")
        text = pc.if_else(quote, quoted, text)
    return pc.fill_null(text, "")


def _format_floats(values: np.ndarray):  # noqa: ANN202
    """numpy's str of each float64 (what pandas writes), missing as empty: integral values below 1e16 as the
    integer and '.0', other values within 1e-4..1e10 by pyarrow (the same shortest digits in positional notation,
    checked in tests/test_files.py), the rest (exponents, infinities, -0.0) by numpy itself."""
    import pyarrow as pa
    import pyarrow.compute as pc

    with np.errstate(invalid="ignore"):
        magnitude = np.abs(values)
        missing = np.isnan(values)
        integral = (magnitude < 1e16) & (values == np.trunc(values)) & ~((values == 0) & np.signbit(values))
        positional = ~integral & (magnitude >= 1e-4) & (magnitude < 1e10)
    others = ~(integral | positional | missing)
    text = None
    if integral.any():
        whole = pc.cast(pa.array(np.where(integral, values, 0.0).astype(np.int64)), pa.string())
        text = pc.binary_join_element_wise(whole, ".0", "")
    if positional.any():
        decimals = pc.cast(pa.array(np.where(positional, values, 0.0)), pa.string())
        text = decimals if text is None else pc.if_else(pa.array(integral), text, decimals)
    if text is None:
        text = pa.array(np.full(len(values), ""), type=pa.string())
    if others.any():
        text = pc.replace_with_mask(text, pa.array(others), pa.array(values[others].astype(str), type=pa.string()))
    if missing.any():
        text = pc.if_else(pa.array(missing), "", text)
    return text


def _csv_rows(fields: list) -> memoryview:
    import pyarrow.compute as pc

    lines = pc.binary_join_element_wise(pc.binary_join_element_wise(*fields, ","), "", "\n")
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32, count=len(lines) + 1, offset=lines.offset * 4)
    return memoryview(lines.buffers()[2][int(offsets[0]):int(offsets[-1])])


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))
