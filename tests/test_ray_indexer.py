"""Ray indexer (vml_demo/library/ray_indexer.py): the same library as the single-process indexer."""
from __future__ import annotations

import numpy as np
import pytest

from vml_demo.errors import MediaError
from vml_demo.library.indexer import index_folder
from vml_demo.library.ray_indexer import SHARD_DIR, ShardWorker, index_folder_ray, read_shard, write_shard
from vml_demo.library.store import LibraryStore

from library_helpers import BandEnergyEncoder, make_library, write_tone


def _contents(db):
    store = LibraryStore(db)
    try:
        tracks = sorted((t.name, t.content_hash, round(t.duration_s, 3)) for t in store.tracks())
        by_name = {t.id: t.name for t in store.tracks()}
        windows = sorted((by_name[w.track_id], w.idx, w.start_s, w.end_s) for w in store.windows())
        key = {w.id: (by_name[w.track_id], w.idx) for w in store.windows()}
        vectors = {}
        for kind in ("emb", "scores"):  # in (file, window) order: tracks may be merged in any order
            ids, mat = store.window_matrix("band_energy", kind)
            order = sorted(range(len(ids)), key=lambda i: key[int(ids[i])])
            vectors[kind] = mat[order]
        failures = sorted((p.rsplit("/", 1)[-1], r) for p, r in store.failures())
        return tracks, windows, vectors, failures
    finally:
        store.close()


@pytest.mark.slow
def test_ray_indexes_the_same_library_and_is_incremental(tmp_path):
    pytest.importorskip("ray")
    lib = make_library(tmp_path / "music", n=5)
    index_folder(lib, tmp_path / "plain", encoders=[BandEnergyEncoder()])
    report = index_folder_ray(lib, tmp_path / "ray", workers=2, make_encoders=lambda: [BandEnergyEncoder()])
    assert len(report.added) == 5 and len(report.failed) == 2
    plain, distributed = _contents(tmp_path / "plain"), _contents(tmp_path / "ray")
    assert plain[0] == distributed[0] and plain[1] == distributed[1] and plain[3] == distributed[3]
    for kind in ("emb", "scores"):
        np.testing.assert_allclose(distributed[2][kind], plain[2][kind], atol=1e-6)
    assert not list((tmp_path / "ray" / SHARD_DIR).glob("*/*.npz"))  # every shard merged

    write_tone(lib / "tone_1.wav", 3000.0, 14.0)
    again = index_folder_ray(lib, tmp_path / "ray", workers=1, make_encoders=lambda: [BandEnergyEncoder()])
    assert [p.rsplit("/", 1)[-1] for p in again.updated] == ["tone_1.wav"] and len(again.unchanged) == 4
    assert not again.added


def test_shards_round_trip_and_leftovers_are_merged_without_encoding(tmp_path, monkeypatch):
    """A shard a crashed run left behind is merged by the next run; no actor encodes that file again."""
    lib = make_library(tmp_path / "music", n=2)
    worker = ShardWorker(lambda: [BandEnergyEncoder()], str(tmp_path / "db" / SHARD_DIR), 0)
    from vml_demo.media.hashing import file_sha256
    import json

    encoder_set = json.dumps([BandEnergyEncoder().fingerprint()])  # as plan_index keys it
    shards = [worker.encode(str(lib / name), file_sha256(lib / name), encoder_set) for name in ("tone_0.wav", "notes.ogg")]
    duration, spans, vectors = read_shard(shards[0])
    assert duration == pytest.approx(12.0, abs=0.05) and len(spans) == len(vectors[("band_energy", "emb")])
    assert isinstance(read_shard(shards[1]), MediaError)
    write_shard(tmp_path / "x.npz", MediaError("one line"))
    assert str(read_shard(tmp_path / "x.npz")) == "one line"

    class FakeRay:  # the cluster a run sees; encode() must not be called for the leftover files
        encoded = []

        @staticmethod
        def cluster_resources():
            return {"CPU": 1}

        @staticmethod
        def remote(**_):
            def wrap(cls):
                class Handle:
                    def __init__(self, *a):
                        self.inner = cls(*a)

                    @classmethod
                    def remote(cls_, *a):
                        return Handle(*a)

                    @property
                    def describe(self):
                        return _Call(self.inner.describe)

                    @property
                    def encode(self):
                        def run(path, *a):
                            FakeRay.encoded.append(path.rsplit("/", 1)[-1])
                            return self.inner.encode(path, *a)
                        return _Call(run)
                return Handle
            return wrap

        @staticmethod
        def get(ref):
            return ref

        @staticmethod
        def wait(refs, num_returns):
            return refs[:num_returns], refs[num_returns:]

        @staticmethod
        def kill(_):
            pass

    from vml_demo.library import ray_indexer

    monkeypatch.setattr(ray_indexer, "_start_ray", lambda address, workers: FakeRay)
    report = index_folder_ray(lib, tmp_path / "db", make_encoders=lambda: [BandEnergyEncoder()])
    assert sorted(p.rsplit("/", 1)[-1] for p in report.added) == ["tone_0.wav", "tone_1.wav"]
    assert sorted(FakeRay.encoded) == ["empty.mp3", "tone_1.wav"]  # tone_0 and notes.ogg came from the shards
    assert len(report.failed) == 2
    plain = index_folder(lib, tmp_path / "plain", encoders=[BandEnergyEncoder()])
    assert len(plain.added) == 2
    a, b = _contents(tmp_path / "plain"), _contents(tmp_path / "db")
    assert a[0] == b[0] and a[1] == b[1] and a[3] == b[3]
    np.testing.assert_allclose(b[2]["emb"], a[2]["emb"], atol=1e-6)


class _Call:
    def __init__(self, fn):
        self.fn = fn

    def remote(self, *a):
        return self.fn(*a)
