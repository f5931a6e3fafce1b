"""Unit tests for lakeloader.sample: pure Python, no Spark."""

from __future__ import annotations

import csv
import re
import unicodedata
from collections import Counter
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

import pytest

from lakeloader import sample
from lakeloader.sample import COLUMNS, HOSTILE_COUNTRIES, SampleStats, generate

ROWS = 2_000
BAD = 12
FILES = 4
DAYS = 7
START = date(2026, 11, 1)

Parts = dict[str, list[list[str]]]


def read_parts(out: Path) -> Parts:
    """File name -> rows (header included) as the csv module reads them."""
    parts = {}
    for p in sorted(out.glob("part-*.csv")):
        with open(p, newline="", encoding="utf-8") as fh:
            parts[p.name] = list(csv.reader(fh))
    return parts


def malformed(row: list[str]) -> bool:
    """True when a typed field would fail Spark's parse against SCHEMA_DDL."""
    if len(row) != len(COLUMNS) or not re.fullmatch(r"-?\d+", row[0]):
        return True
    try:
        datetime.strptime(row[1], "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return True
    if row[5] == "":
        return False
    try:
        Decimal(row[5])
    except InvalidOperation:
        return True
    return False


def data_rows(parts: Parts) -> list[list[str]]:
    return [r for rows in parts.values() for r in rows[1:]]


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SampleStats, Parts]:
    out = tmp_path_factory.mktemp("sample") / "in"
    stats = generate(out, rows=ROWS, files=FILES, days=DAYS, bad_rows=BAD, seed=11, start=START)
    return out, stats, read_parts(out)


def good_rows(generated) -> list[list[str]]:
    return [r for r in data_rows(generated[2]) if not malformed(r)]


def test_files_and_headers(generated):
    out, stats, parts = generated
    assert sorted(p.name for p in out.iterdir()) == [f"part-{i:04d}.csv" for i in range(FILES)]
    assert stats.files == FILES
    for rows in parts.values():
        assert rows[0] == list(COLUMNS)
    # Good and bad lines are each split evenly, so file sizes differ by at most 2.
    sizes = [len(rows) - 1 for rows in parts.values()]
    assert sum(sizes) == ROWS + BAD
    assert max(sizes) - min(sizes) <= 2


def test_deterministic_bytes(tmp_path):
    kw = dict(rows=ROWS, files=3, bad_rows=5, seed=3)
    generate(tmp_path / "a", **kw)
    generate(tmp_path / "b", **kw)
    generate(tmp_path / "c", **{**kw, "seed": 4})
    a = {p.name: p.read_bytes() for p in (tmp_path / "a").iterdir()}
    b = {p.name: p.read_bytes() for p in (tmp_path / "b").iterdir()}
    c = {p.name: p.read_bytes() for p in (tmp_path / "c").iterdir()}
    assert a == b
    assert a != c


def test_stats_match_files(generated):
    _, stats, _ = generated
    good = good_rows(generated)
    assert stats.rows == len(good) == ROWS
    assert stats.bad_rows == BAD
    assert stats.rows_by_date == dict(Counter(r[1][:10] for r in good))
    assert stats.rows_by_country == dict(Counter(r[3] or None for r in good))
    assert sum(stats.rows_by_country.values()) == ROWS
    assert "" not in stats.rows_by_country
    assert stats.rows_by_country[None] >= 1


def test_dates_cover_range(generated):
    _, stats, _ = generated
    assert sorted(stats.rows_by_date) == [f"2026-11-{d:02d}" for d in range(1, DAYS + 1)]


def test_country_skew(generated):
    _, stats, _ = generated
    assert 0.55 <= stats.rows_by_country["US"] / stats.rows <= 0.65
    iso = [k for k in stats.rows_by_country if k and re.fullmatch(r"[A-Z]{2}", k) and k != "US"]
    assert len(iso) >= 15


def test_every_hostile_value_present(generated):
    _, stats, _ = generated
    counts = Counter(r[3] for r in good_rows(generated))
    for value in HOSTILE_COUNTRIES:
        assert counts[value] >= 1, value
        assert stats.rows_by_country[value or None] == counts[value]
    assert stats.rows_by_country["us"] != stats.rows_by_country["US"]
    # Precomposed forms: a decomposed "Zürich" would be a different partition value.
    assert all(unicodedata.is_normalized("NFC", v) for v in HOSTILE_COUNTRIES)


def test_hostile_values_few_in_small_sample(tmp_path):
    stats = generate(tmp_path / "s", rows=100, files=1)
    for value in HOSTILE_COUNTRIES:
        assert stats.rows_by_country[value or None] == 1


def test_bad_rows_are_the_malformed_lines(generated):
    _, _, parts = generated
    bad_by_file = {name: [r for r in rows[1:] if malformed(r)] for name, rows in parts.items()}
    bad = [r for rows in bad_by_file.values() for r in rows]
    assert len(bad) == BAD
    assert {len(rows) for rows in bad_by_file.values()} == {BAD // FILES}
    assert all(len(r) == len(COLUMNS) for r in bad)
    # Each kind of breakage shows up.
    assert any(r[0] == sample.BAD_EVENT_ID for r in bad)
    assert any(r[1] == sample.BAD_TS for r in bad)
    assert any(r[5] == sample.BAD_AMOUNT for r in bad)
    # Not bunched at the end of each file.
    positions = [i for rows in parts.values() for i, r in enumerate(rows[1:]) if malformed(r)]
    assert min(positions) < (ROWS + BAD) // FILES - BAD // FILES


def test_no_bad_rows_by_default(tmp_path):
    stats = generate(tmp_path / "d", rows=500, files=2)
    rows = data_rows(read_parts(tmp_path / "d"))
    assert stats.bad_rows == 0
    assert len(rows) == 500
    assert not any(malformed(r) for r in rows)


def test_field_values(generated):
    good = good_rows(generated)
    ids = [int(r[0]) for r in good]
    assert ids == list(range(1, ROWS + 1))
    all_ids = [r[0] for r in data_rows(generated[2]) if re.fullmatch(r"\d+", r[0])]
    assert len(all_ids) == len(set(all_ids))

    for r in good:
        ts = datetime.strptime(r[1], "%Y-%m-%d %H:%M:%S")
        assert START <= ts.date() < date(2026, 11, 1 + DAYS)
        assert r[2] == "" or re.fullmatch(r"u\d{6}", r[2])
        assert r[4] in {"ios", "android", "web"}
        assert r[6] in {"ok", "retry", "error"}
        if r[5]:
            assert re.fullmatch(r"-?\d+\.\d{2}", r[5])
            assert Decimal("-50.00") <= Decimal(r[5]) <= Decimal("5000.00")

    assert len({r[1][11:13] for r in good}) == 24
    users = {r[2] for r in good if r[2]}
    assert ROWS / 20 * 0.8 <= len(users) <= ROWS / 20
    empty_users = sum(r[2] == "" for r in good)
    assert 0 < empty_users < ROWS * 0.03
    amounts = [Decimal(r[5]) for r in good if r[5]]
    assert 0 < ROWS - len(amounts) < ROWS * 0.02
    assert sum(a > 0 for a in amounts) / len(amounts) > 0.9
    assert any(a < 0 for a in amounts)
    assert Counter(r[4] for r in good).keys() == {"ios", "android", "web"}
    assert Counter(r[6] for r in good).most_common(1)[0][0] == "ok"


def test_refuses_dir_with_other_files(tmp_path):
    out = tmp_path / "busy"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(ValueError, match="refusing"):
        generate(out, rows=200)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    assert (out / "keep.txt").read_text() == "mine"


def test_refuses_file_path(tmp_path):
    target = tmp_path / "f"
    target.write_text("x")
    with pytest.raises(ValueError, match="not a directory"):
        generate(target, rows=200)


def test_replaces_previous_parts(tmp_path):
    out = tmp_path / "again"
    generate(out, rows=300, files=5)
    stats = generate(out, rows=300, files=2)
    assert sorted(p.name for p in out.iterdir()) == ["part-0000.csv", "part-0001.csv"]
    assert len(data_rows(read_parts(out))) == stats.rows == 300


def test_creates_nested_dir(tmp_path):
    out = tmp_path / "a" / "b"
    generate(str(out), rows=10, files=1)
    assert (out / "part-0000.csv").is_file()


@pytest.mark.parametrize(
    "kw",
    [dict(files=0), dict(rows=-1), dict(bad_rows=-1), dict(days=0)],
)
def test_rejects_bad_arguments(tmp_path, kw):
    with pytest.raises(ValueError):
        generate(tmp_path / "x", **kw)
    assert not (tmp_path / "x").exists()


def test_the_cli_says_what_it_wrote_once(tmp_path, capsys):
    from lakeloader.cli import main

    out = tmp_path / "in"
    assert main(["sample", "--out", str(out), "--rows", "100", "--bad-rows", "0"]) == 0
    printed, logged = capsys.readouterr()
    assert printed == f"wrote 100 rows (+0 malformed) in 4 files to {out}\n"
    assert "wrote" not in logged
