"""The published version on object storage: the pointer is written last, so readers see a version whole or not at
all (here on a local folder through pyarrow's LocalFileSystem; on S3 in test_distributed)."""

import pyarrow.fs as pafs
import pytest

import assets.remote as remote
from assets.warehouse import Store, WarehouseError, query_frame
from test_publish import MART_TABLES, published_marts


def test_readers_see_a_remote_version_only_once_its_pointer_is_written(refreshed, tmp_path, monkeypatch):
    store, fs, base = Store(refreshed), pafs.LocalFileSystem(), str(tmp_path / "bucket")
    version = store.current_version()
    real_write = remote.write_bytes

    def dies_at_the_pointer(fs_, path, data):
        if path.endswith(remote.POINTER):
            raise OSError("connection reset")
        real_write(fs_, path, data)

    monkeypatch.setattr(remote, "write_bytes", dies_at_the_pointer)
    with pytest.raises(OSError):
        remote.upload_version(store, version, fs, base)
    assert (tmp_path / "bucket" / "versions" / version / "parquet" / "scores.parquet").is_file()  # uploaded, not visible
    with pytest.raises(WarehouseError, match="nothing is published"):
        with remote.read_remote(fs, base):
            pass
    monkeypatch.setattr(remote, "write_bytes", real_write)
    pointer = remote.upload_version(store, version, fs, base)
    assert pointer["raw_files_uploaded"] == 0  # the raw store was copied by the failed attempt, once
    assert sorted(p.name for p in (tmp_path / "bucket" / "raw" / "safetywashing").iterdir()) == sorted(
        p.name for p in (refreshed / "raw" / "safetywashing").iterdir())
    local = published_marts(refreshed)
    with remote.read_remote(fs, base) as con:
        assert query_frame(con, "select version from meta.version").item() == version
        for table in MART_TABLES:
            assert query_frame(con, f"select * from marts.{table} order by all").equals(local[table]), table
