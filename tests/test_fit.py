"""Fitting music to a video's edit: alignment scores, offsets, bar endings, loops, ducking; shot cuts
(PySceneDetect) and speech segments; the fitted preview and the export bundle end to end."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from vml_demo.encoders.yamnet import speech_segments
from vml_demo.library.rhythm import Rhythm
from vml_demo.media.bed import ENVELOPE_RATE, gain_envelope
from vml_demo.media.cuts import detect_cuts
from vml_demo.search.fit import alignment, plan_fit, source_times, timeline

from library_helpers import click_track, write_wav
from media_factory import shots_video


def grid(bpm: float, track_s: float, first: float = 0.0) -> Rhythm:
    beats = np.arange(first, track_s, 60.0 / bpm)
    return Rhythm(bpm=bpm, beats=beats, downbeats=beats[::4], energy=np.zeros(1))


def test_offset_puts_downbeats_on_cuts_and_beats_the_plain_offset():
    r = grid(120.0, 60.0)  # bars every 2 s from 0
    cuts = np.array([1.3, 3.3, 7.3])
    plan = plan_fit(cuts, r, best_s=10.0, track_s=60.0, video_s=9.0)
    assert plan.chosen.downbeat_share == 1.0 and plan.chosen.beat_share == 1.0
    assert plan.plain.downbeat_share == 0.0  # 10 + 1.3 is off the grid
    assert abs(plan.offset_s - 10.0) <= 8.0
    assert plan.music_end_s == pytest.approx(7.3)  # the last bar inside the 9 s video (bars at 1.3, 3.3, ...)
    bars_video = r.downbeats - plan.offset_s
    assert np.min(np.abs(bars_video - plan.music_end_s)) < 1e-6  # ends on a bar


def test_short_track_loops_at_bars_and_keeps_the_grid():
    r = grid(120.0, 9.0, first=0.5)  # bars at 0.5, 2.5, 4.5, 6.5, 8.5
    pieces, notes = timeline(r, 9.0, 0.5, 30.0)
    assert len(pieces) > 3 and "looped" in notes[0]
    assert pieces[1].src_start_s + pieces[1].fade_in_s == pytest.approx(0.5)  # back to the first bar
    # Every 2 s on the video timeline still lands on a bar of the track, across the loops.
    t = np.arange(0.0, 29.0, 2.0)
    src = source_times(pieces, t)
    assert np.all(np.min(np.abs(src[:, None] - r.downbeats[None, :]), axis=1) < 1e-6)


def test_edge_cases_give_a_plan_with_the_reason():
    r = grid(60.0, 30.0)  # a bar is 4 s
    short = plan_fit(np.array([]), r, 5.0, 30.0, 2.5)
    assert short.music_end_s == 2.5 and any("shorter than one bar" in n for n in short.notes)
    assert short.chosen.cuts == 0 and any("no cuts" in n for n in short.notes)
    flat = plan_fit(np.array([1.0]), None, 3.0, 30.0, 10.0)
    assert flat.offset_s == 3.0 and flat.chosen.downbeat_share == 0.0 and flat.notes


def test_alignment_counts_cuts_within_80_ms():
    r = grid(120.0, 30.0)
    pieces, _ = timeline(r, 30.0, 0.0, 10.0)
    a = alignment(np.array([0.55, 2.07, 4.2]), r, pieces)  # beat +50 ms, downbeat +70 ms, off
    assert a.beat_share == pytest.approx(2 / 3, abs=1e-3) and a.downbeat_share == pytest.approx(1 / 3, abs=1e-3)


def test_ducking_envelope_is_12_db_down_under_speech():
    g = gain_envelope(10.0, fade_in_s=0.05, fade_out_end_s=9.0, fade_out_s=1.0, speech=[(3.0, 5.0)])
    at = lambda s: g[int(s * ENVELOPE_RATE)]  # noqa: E731
    assert 20 * np.log10(at(4.0) / at(1.0)) == pytest.approx(-12.0, abs=0.01)
    assert at(6.0) == pytest.approx(1.0) and at(9.5) == 0.0 and at(8.5) == pytest.approx(0.5, abs=0.01)


def test_speech_segments_merge_short_pauses():
    times = np.arange(0.48, 10.0, 0.48)
    prob = np.where((times > 2) & (times < 4) | (times > 4.3) & (times < 6), 0.9, 0.1)
    assert speech_segments(times, prob, 10.0) == [(pytest.approx(1.92, abs=0.3), pytest.approx(6.0, abs=0.3))]


def test_scenedetect_finds_generated_cuts(tmp_path):
    video = shots_video(tmp_path / "shots.mp4", [1.2, 2.0, 1.6])
    cuts = detect_cuts(video)
    assert cuts == pytest.approx([1.2, 3.2], abs=0.041)  # within one frame at 25 fps
    assert len(detect_cuts(shots_video(tmp_path / "one.mp4", [2.0]))) == 0


@pytest.fixture(scope="module")
def click_wav(tmp_path_factory):
    return write_wav(tmp_path_factory.mktemp("clicks") / "clicks_120.wav", click_track(120.0, 6.0))


def test_export_bundle_of_a_track_outside_the_library(tmp_path, click_wav):
    """A 6 s track under a 9 s video with cuts: looped at bars, the bundle written (in process, so librosa's
    numba compilation is shared with the other tests)."""
    from vml_demo.media.probe import probe
    from vml_demo.search.export import TrackInfo, export_bundle
    from vml_demo.search.fitted_preview import track_rhythm

    video = shots_video(tmp_path / "edit.mp4", [2.1, 3.0, 3.9], tone_hz=300.0)
    out = tmp_path / "bundle"
    track = TrackInfo(click_wav.name, "Clicks", "Test", "CC-BY-SA-4.0", "Clicks by Test, CC BY-SA 4.0", 6.0)
    fit = export_bundle(video, click_wav, track, track_rhythm(click_wav), 0.0, out)
    assert fit["fit"]["bpm"] == pytest.approx(120.0, rel=0.02) and fit["fit"]["loops"] >= 1
    assert fit["fit"]["chosen"]["cuts"] == 2
    assert fit["fit"]["chosen"]["downbeat_share"] >= fit["fit"]["plain"]["downbeat_share"]
    assert any("no speech" in n for n in fit["fit"]["notes"])
    assert json.loads((out / "fit.json").read_text()) == fit
    assert sorted(p.name for p in out.iterdir()) == sorted(fit["files"].values())
    assert "CC-BY-SA-4.0" in (out / "LICENSE.txt").read_text()
    assert "001  AX" in (out / fit["files"]["edl"]).read_text()
    info = probe(out / fit["files"]["video"])
    assert info.has_audio and info.duration_s == pytest.approx(9.0, abs=0.15)


def test_preview_of_a_missing_track_is_one_line(tmp_path):
    video = shots_video(tmp_path / "v.mp4", [1.0])
    proc = subprocess.run([sys.executable, "-m", "vml_demo", "preview", str(video), "--track", "nope.ogg",
                           "--out", str(tmp_path / "o")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and proc.stderr.startswith("error: nope.ogg is neither")
    assert "Traceback" not in proc.stderr
