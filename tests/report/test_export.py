"""`cosmos-reason export`: Parquet and CSV that pandas and DuckDB read back, one row per item in order."""

import json

import duckdb
import pandas as pd
import pytest

from cosmos_reason.cli import main
from tests.report.sample import annotate_rows, critic_rows, make_media, write_jsonl


@pytest.fixture
def results(tmp_path):
    make_media(tmp_path)
    return write_jsonl(tmp_path / "results.jsonl", [*annotate_rows(), "garbage", *critic_rows()])


def test_parquet_has_one_row_per_item_in_order_with_flat_parsed_and_error_columns(results, tmp_path, capsys):
    out = tmp_path / "out.parquet"
    assert main(["export", str(results), "--parquet", str(out)]) == 0
    assert "wrote 9 rows" in capsys.readouterr().out
    df = pd.read_parquet(out)
    expected = [r["item"] for r in annotate_rows()] + [r["candidate"] for r in critic_rows()]
    assert df["item"].tolist() == expected
    assert df["line"].tolist() == [1, 2, 3, 4, 5, 6, 8, 9, 10]  # line 7 is not a result
    assert df["path"][0] == str(tmp_path / "clips" / "ball.png")  # absolute, beside the results
    assert df["path"][4] == str(tmp_path / "clips" / "moved.mp4")  # even when the file is gone
    assert df["parsed_score"].isna().tolist()[:6] == [True, False, True, True, True, False]
    assert df["parsed_score"][1] == 4 and df["parsed_score"][5] == 2
    assert df["parsed_parse_error"][2] == "no score 1-5 in the answer"
    assert df["error_message"][3] == "not a recognized image or video"
    assert df["error_type"].notna().tolist() == [False, False, False, True, False, False, False, False, True]
    assert df["score"][6] == 0.75 and df["rank"][6] == 1
    assert json.loads(df["critic"][6])["samples"][0]["answer"] == "No"  # nested objects as JSON text
    assert "candidate" not in df.columns  # it is the item column


def test_duckdb_queries_the_parquet_and_the_csv(results, tmp_path):
    parquet, csv = tmp_path / "out.parquet", tmp_path / "out.csv"
    assert main(["export", str(results), "--parquet", str(parquet), "--csv", str(csv)]) == 0
    for source in (f"read_parquet('{parquet}')", f"read_csv_auto('{csv}')"):
        rows = duckdb.sql(f"SELECT item, parsed_score FROM {source} WHERE parsed_score >= 2 ORDER BY line").fetchall()
        assert rows == [("clips/arm.mp4", 4), ("clips/dusk.png", 2)]
        errors = duckdb.sql(f"SELECT count(*) FROM {source} WHERE error_message IS NOT NULL").fetchall()
        assert errors == [(2,)]


def test_csv_reads_back_with_pandas_in_order(results, tmp_path):
    out = tmp_path / "out.csv"
    assert main(["export", str(results), "--csv", str(out)]) == 0
    df = pd.read_csv(out)
    assert len(df) == 9
    assert df["item"].tolist()[:3] == ["clips/ball.png", "clips/arm.mp4", "clips/drive.mp4"]
    assert df["content"][0] == "A red ball rolls across a green lawn under a blue sky."


def test_a_column_of_mixed_types_becomes_text(tmp_path):
    rows = [{"item": "a.png", "parsed": {"value": 3}}, {"item": "b.png", "parsed": {"value": "three"}}]
    out = tmp_path / "out.parquet"
    assert main(["export", str(write_jsonl(tmp_path / "r.jsonl", rows)), "--parquet", str(out)]) == 0
    assert pd.read_parquet(out)["parsed_value"].tolist() == ["3", "three"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["missing.jsonl", "--csv", "x.csv"], "missing.jsonl: no such file"),
        (["notes.txt", "--csv", "x.csv"], "not a results JSONL file"),
    ],
)
def test_bad_input_is_one_line_and_exit_1(tmp_path, monkeypatch, capsys, args, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("hello\n")
    assert main(["export", *args]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("cosmos-reason: error:") and message in err and "\n" not in err
    assert not (tmp_path / "x.csv").exists()


def test_an_output_that_cannot_be_written_is_one_line(results, tmp_path, capsys):
    (tmp_path / "file").write_text("")
    target = tmp_path / "file" / "out.csv"  # under a file, not a folder
    assert main(["export", str(results), "--csv", str(target)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"cosmos-reason: error: cannot write {target}:") and "\n" not in err


def test_export_needs_an_output(results, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["export", str(results)])
    assert exit_.value.code == 2
    assert "--parquet FILE and/or --csv FILE" in capsys.readouterr().err


def test_help_has_an_example(capsys):
    with pytest.raises(SystemExit):
        main(["export", "--help"])
    assert "example:\n  cosmos-reason export " in capsys.readouterr().out
