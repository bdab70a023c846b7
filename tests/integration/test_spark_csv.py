"""The driver's CSV reader (pipelines.core.spark_csv) against Spark's own reading of the same file.

For every designed file the driver either gives Spark's schema and Spark's values exactly, or gives None
(Spark is asked): the files below say in advance which."""
from __future__ import annotations

import math
import struct
from pathlib import Path

import pytest

from pipelines.core import lakehouse, spark_csv
from pipelines.core.tables import TableRef

PANDAS_STYLE = ('id,name,score,ratio,flag,note\n'
                '1,"Smith, ""Jo""",10,0.5,True,\n'
                '2,plain,-3,1e-5,False,"two\nlines"\n'
                '3,,2147483647,-0.0,true,x\n')

# (file text, expected Spark types, or None where the driver must hand the file to Spark)
READ_BY_DRIVER = {
    "pandas_style": (PANDAS_STYLE, ["int", "string", "int", "double", "boolean", "string"]),
    "bom": ("\ufeffa,b\n1,x\n2,y\n", ["int", "string"]),
    "bigint": ("a\n2147483648\n-5\n", ["bigint"]),
    "int_then_decimal": ("a,b\n1,+2\n2.25,.5\n", ["double", "double"]),
    "text_like_numbers": ("a,b,c\n1977-1989,12 Main St,Tyrone\nTX-14,-Tito,T\n", ["string", "string", "string"]),
    "bool_and_int": ("a\ntrue\n1\n", ["string"]),
    "all_null": ("a,b\n,1\n\"\",2\n", ["string", "int"]),
    "quote_inside": ('a\nab"c\n', ["string"]),
}
SPARK_DECIDES = {
    "date": "a\n2020-01-01\n",
    "timestamp": "a\n2020-01-01 10:00:00\n",
    "time_alone": "a\n12:30\n",
    "t_time": "a\nT12\n",
    "year_month": "a,b\n1,2020-01\n",
    "nan": "a\n1.5\nNaN\n",
    "inf": "a\nInf\n",
    "space_padded": "a\n 1\n",
    "java_suffix": "a\n1d\n",
    "decimal_scale_zero": "a\n1.\n",
    "exponent": "a\n1e5\n",
    "beyond_64_bits": "a\n99999999999999999999\n",
    "arabic_digit": "a\n\u0663\n",
    "empty_header": "a,\n1,2\n",
    "duplicate_header": "a,A\n1,2\n",
    "ragged": "a,b\n1\n",
    "crlf": "a,b\r\n1,2\r\n",
    "quote_after_space": 'a,b\n1, "x"\n',
}


def _bits(v):
    return ("double", struct.pack("<d", v)) if isinstance(v, float) else v


def _spark_read(spark, path):
    df = lakehouse.read_table(spark, TableRef(path=str(path)), "csv")
    return [(f.name, f.dataType.simpleString()) for f in df.schema.fields], df.toArrow()


@pytest.mark.parametrize("case", sorted(READ_BY_DRIVER))
def test_the_driver_reads_the_file_exactly_as_spark_does(spark, tmp_path, case):
    text, types = READ_BY_DRIVER[case]
    path = tmp_path / f"{case}.csv"
    path.write_bytes(text.encode("utf-8"))
    got = spark_csv.read(path)
    fields, rows = _spark_read(spark, path)
    assert [t for _, t in fields] == types  # the designed answer, and Spark agrees with it
    assert got is not None
    assert list(got.fields) == fields
    assert got.spark_schema().simpleString() == lakehouse.read_table(
        spark, TableRef(path=str(path)), "csv").schema.simpleString()
    for i, (name, _) in enumerate(fields):
        assert [_bits(v) for v in got.table.column(i).to_pylist()] == \
            [_bits(v) for v in rows.column(i).to_pylist()], name


def test_the_designed_values_are_read_as_written(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text(PANDAS_STYLE)
    got = spark_csv.read(path).table.to_pydict()
    assert got["name"] == ['Smith, "Jo"', "plain", None]
    assert got["note"] == [None, "two\nlines", "x"]
    assert got["flag"] == [True, False, True]
    assert got["score"] == [10, -3, 2147483647]
    assert math.copysign(1.0, got["ratio"][2]) == -1.0 and got["ratio"][1] == 1e-5


@pytest.mark.parametrize("case", sorted(SPARK_DECIDES))
def test_a_file_whose_reading_is_not_reproduced_is_left_to_spark(tmp_path, case):
    path = tmp_path / f"{case}.csv"
    path.write_bytes(SPARK_DECIDES[case].encode("utf-8"))
    assert spark_csv.read(path) is None


def test_spark_would_infer_the_left_cases_otherwise_than_text(spark, tmp_path):
    """The doubtful values are not a mere precaution: Spark gives these a date, a timestamp, a double."""
    expected = {"date": "date", "timestamp": "timestamp", "time_alone": "timestamp", "nan": "double",
                "space_padded": "double", "exponent": "double", "year_month": "timestamp"}
    for case, spark_type in expected.items():
        path = tmp_path / f"{case}.csv"
        path.write_bytes(SPARK_DECIDES[case].encode("utf-8"))
        fields, _ = _spark_read(spark, path)
        assert fields[-1][1] == spark_type, case


def test_real_csv_files_shipped_by_installed_packages_read_as_spark_reads_them(spark):
    """Files nobody here designed (numpy's and scikit-learn's data files in the venv): wherever the driver reads
    one, its schema and values are Spark's; Spark decides the rest (some it cannot read at all: FAILFAST)."""
    import numpy
    import sklearn

    files = sorted({*Path(numpy.__file__).parent.rglob("*.csv"), *Path(sklearn.__file__).parent.rglob("*.csv")})
    read_here = 0
    for path in files:
        got = spark_csv.read(path)
        if got is None:
            continue
        read_here += 1
        fields, rows = _spark_read(spark, path)
        assert list(got.fields) == fields, path.name
        for i, (name, _) in enumerate(fields):
            assert [_bits(v) for v in got.table.column(i).to_pylist()] == \
                [_bits(v) for v in rows.column(i).to_pylist()], (path.name, name)
    assert len(files) >= 30 and read_here >= 20
