"""Media I/O: probing, streamed audio and frame decoding, and how bad input fails (typed, fast, no hang)."""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import numpy as np
import pytest

import media_factory as mf
from vml_demo import config
from vml_demo.errors import (CorruptMediaError, EmptyMediaError, MediaError, MediaTooLargeError,
                             MediaTooLongError, NoAudioStreamError, NotMediaError, NoVideoStreamError)
from vml_demo.media.audio import extract_soundtrack, load_audio, stream_audio
from vml_demo.media.ffmpeg import FFmpegPipe
from vml_demo.media.probe import probe
from vml_demo.media.video import ReadAhead, check_duration, iter_frames, iter_segments

SR = 16000
AUDIO_SUFFIXES = [".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a"]
EXPECTED_CODEC = {".wav": "pcm_s16le", ".flac": "flac", ".mp3": "mp3", ".ogg": "vorbis", ".opus": "opus",
                  ".m4a": "aac"}


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("media")
    files = {f"tone{ext}": mf.sine_tone(d / f"tone{ext}", duration_s=3.0) for ext in AUDIO_SUFFIXES}
    files["two_tone"] = mf.two_tone(d / "two_tone.flac")
    files["stereo"] = mf.sine_tone(d / "stereo.wav", amplitude=0.8, stereo=True)
    files["cover_mp3"] = mf.mp3_with_cover_art(d / "cover.mp3")
    files["pattern"] = mf.moving_pattern_video(d / "pattern.mp4", duration_s=3.0)
    files["pattern_tone"] = mf.moving_pattern_video(d / "pattern_tone.mp4", duration_s=3.0, tone_hz=440)
    files["silent_track"] = mf.video_with_silent_audio(d / "silent_track.mp4")
    files["bars"] = mf.color_bars_video(d / "bars.mp4")
    files["one_frame"] = mf.one_frame_video(d / "one_frame.mp4")
    files["long_25s"] = mf.moving_pattern_video(d / "long_25s.mp4", duration_s=25.0, width=96, height=64)
    files["raw_h264"] = mf.raw_h264_stream(d / "raw.h264")
    files["notes_mp4"] = mf.text_file(d / "notes.mp4")
    files["png"] = mf.png_image(d / "picture.png")
    files["png_as_mp4"] = mf.copy_as(files["png"], d / "picture.mp4")
    files["empty"] = mf.zero_length(d / "empty.mp4")
    moov_at_end = mf.moving_pattern_video(d / "moov_end.mp4", duration_s=3.0, tone_hz=440, faststart=False)
    files["cut_before_moov"] = mf.truncated_copy(moov_at_end, d / "cut_before_moov.mp4", 0.3)
    faststart = mf.moving_pattern_video(d / "faststart.mp4", duration_s=3.0, tone_hz=440, faststart=True)
    files["cut_faststart"] = mf.truncated_copy(faststart, d / "cut_faststart.mp4", 0.3)
    files["cut_header"] = mf.truncated_copy(faststart, d / "cut_header.mp4", 0.002)
    return files


@pytest.fixture(scope="module")
def three_hours(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("long")
    return {"wav": mf.long_silent_wav(d / "three_hours.wav"), "video": mf.long_sparse_video(d / "three_hours.mp4")}


def child_pids() -> list[int]:
    """Live (not zombie) children of this process: a leaked ffmpeg shows up here."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == os.getpid() and fields[0] != "Z":
            pids.append(int(entry))
    return pids


def dominant_hz(x: np.ndarray, sr: int = SR) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spectrum) * sr / len(x))


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


# ---------------------------------------------------------------- probe

def test_probe_real_assets(videos_dir, library_dir):
    cockatoo = probe(videos_dir / "cockatoo.mp4")
    assert cockatoo.has_video and cockatoo.has_audio
    assert (cockatoo.width, cockatoo.height, cockatoo.video_codec, cockatoo.audio_codec) == (854, 480, "h264", "aac")
    assert cockatoo.duration_s == pytest.approx(14.0, abs=0.1) and cockatoo.fps == pytest.approx(20.0)
    city = probe(videos_dir / "city_night.mp4")
    assert city.has_video and not city.has_audio and city.audio_codec is None
    track = probe(sorted(library_dir.glob("*.ogg"))[0])
    assert track.has_audio and not track.has_video and track.audio_codec == "opus"
    assert track.audio_sample_rate == 48000 and 0 < track.duration_s <= 91 and track.container == "ogg"


@pytest.mark.parametrize("suffix", AUDIO_SUFFIXES)
def test_probe_audio_formats(media, suffix):
    info = probe(media[f"tone{suffix}"])
    assert info.has_audio and not info.has_video and info.width is None
    assert info.audio_codec == EXPECTED_CODEC[suffix]
    assert info.audio_sample_rate == (48000 if suffix == ".opus" else 44100)  # Opus always decodes at 48 kHz
    assert info.duration_s == pytest.approx(3.0, abs=0.1)


def test_cover_art_is_not_a_video_stream(media):
    info = probe(media["cover_mp3"])
    assert info.has_audio and not info.has_video


def test_probe_scans_packets_when_header_has_no_duration(media):
    info = probe(media["raw_h264"])
    assert info.container == "h264" and info.duration_s == pytest.approx(3.0, abs=0.1)


@pytest.mark.parametrize("key, error", [
    ("notes_mp4", NotMediaError), ("png", NotMediaError), ("png_as_mp4", NotMediaError),
    ("empty", EmptyMediaError), ("cut_before_moov", CorruptMediaError), ("cut_header", CorruptMediaError),
])
def test_probe_bad_input_raises_typed_error_fast(media, key, error):
    start = time.monotonic()
    with pytest.raises(error) as caught:
        probe(media[key])
    assert time.monotonic() - start < 5
    message = str(caught.value)
    assert media[key].name in message and "\n" not in message and str(media[key].parent) not in message


def test_probe_message_for_text_renamed_mp4(media):
    with pytest.raises(NotMediaError, match=r"^notes\.mp4 is not a video or audio file that can be read$"):
        probe(media["notes_mp4"])


def test_probe_missing_file_and_folder(tmp_path):
    with pytest.raises(MediaError, match="ghost.mp4 was not found"):
        probe(tmp_path / "ghost.mp4")
    with pytest.raises(NotMediaError, match="folder"):
        probe(tmp_path)


def test_probe_rejects_too_many_pixels(media, monkeypatch):
    monkeypatch.setattr(config, "MAX_PIXELS", 100 * 100)
    with pytest.raises(MediaTooLargeError, match=r"bars\.mp4 is 320x240"):
        probe(media["bars"])
    probe(media["tone.wav"])  # audio has no frame size to check


# ---------------------------------------------------------------- audio

@pytest.mark.parametrize("suffix", AUDIO_SUFFIXES)
def test_load_audio_decodes_every_format(media, suffix):
    audio = load_audio(media[f"tone{suffix}"], sr=SR)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert len(audio) == pytest.approx(3 * SR, rel=0.01)
    middle = audio[SR // 2: -SR // 2]
    assert dominant_hz(middle) == pytest.approx(440, abs=3)
    assert rms(middle) == pytest.approx(0.5 / np.sqrt(2), rel=0.1)


def test_stereo_is_downmixed_to_the_channel_mean(media):
    audio = load_audio(media["stereo"], sr=SR)
    assert np.abs(audio).max() == pytest.approx(0.8, abs=0.02)  # plain -ac 1 would give 0.8 * 1.41


def test_start_and_max_select_the_asked_part(media):
    before = load_audio(media["two_tone"], sr=SR, start_s=0.5, max_s=1.0)
    after = load_audio(media["two_tone"], sr=SR, start_s=2.5, max_s=1.0)
    assert len(before) == len(after) == SR
    assert dominant_hz(before) == pytest.approx(440, abs=3)
    assert dominant_hz(after) == pytest.approx(880, abs=3)


def test_stream_audio_blocks_add_up_to_load_audio(media):
    blocks = list(stream_audio(media["two_tone"], SR, block_s=1.5))
    assert [len(b) for b in blocks] == [24000, 24000, 16000]
    np.testing.assert_array_equal(np.concatenate(blocks), load_audio(media["two_tone"], sr=SR))


def test_audio_of_video_containers(media, videos_dir):
    tone = load_audio(media["pattern_tone"], sr=SR)
    assert dominant_hz(tone[SR // 2: 2 * SR]) == pytest.approx(440, abs=3)
    cockatoo = load_audio(videos_dir / "cockatoo.mp4", sr=SR)
    assert len(cockatoo) == pytest.approx(14 * SR, rel=0.02)


def test_video_without_audio(media, videos_dir):
    for path in (media["pattern"], videos_dir / "city_night.mp4"):
        with pytest.raises(NoAudioStreamError, match=f"{path.name} has no audio track"):
            load_audio(path)
        with pytest.raises(NoAudioStreamError):
            stream_audio(path, SR)  # raised at the call, not at the first next()
        assert extract_soundtrack(path) is None


def test_soundtrack_present_but_silent_is_returned(media):
    track = extract_soundtrack(media["silent_track"], sr=SR)
    assert track is not None and len(track) == pytest.approx(2 * SR, rel=0.05)
    assert np.abs(track).max() < 1e-4


def test_soundtrack_of_cockatoo(videos_dir):
    # The asset's AAC track exists but holds digital silence (-91 dB): returned as is, not None.
    track = extract_soundtrack(videos_dir / "cockatoo.mp4", sr=SR, max_s=5.0)
    assert track is not None and len(track) == 5 * SR and track.dtype == np.float32


def test_soundtrack_with_sound(media):
    track = extract_soundtrack(media["pattern_tone"], sr=SR, max_s=2.0)
    assert len(track) == 2 * SR and rms(track[SR // 2:]) == pytest.approx(0.5 / np.sqrt(2), rel=0.1)


def test_start_past_the_end_is_empty(media):
    with pytest.raises(EmptyMediaError, match="tone.wav has no audio samples"):
        load_audio(media["tone.wav"], start_s=10.0)


def test_truncated_but_indexed_mp4_yields_its_decodable_part(media, caplog):
    with caplog.at_level(logging.WARNING, logger="vml_demo.media"):
        audio = load_audio(media["cut_faststart"], sr=SR)
        frames = list(iter_frames(media["cut_faststart"], size=32))
    assert 0 < len(audio) < 2.5 * SR and 0 < len(frames) < 3 * 6
    assert "decoded in part" in caplog.text


def test_bad_inputs_fail_the_same_way_in_every_reader(media):
    for reader in (lambda p: load_audio(p), lambda p: iter_frames(p), extract_soundtrack):
        with pytest.raises(NotMediaError):
            reader(media["notes_mp4"])
        with pytest.raises(EmptyMediaError):
            reader(media["empty"])
        with pytest.raises(CorruptMediaError):
            reader(media["cut_before_moov"])


# ---------------------------------------------------------------- video frames

def test_iter_frames_on_a_real_asset(videos_dir):
    frames = list(iter_frames(videos_dir / "city_night.mp4"))
    assert len(frames) in (45, 46)  # 7.6 s at 6 fps
    times = [t for t, _ in frames]
    np.testing.assert_allclose(times, np.arange(len(frames)) / 6.0)
    assert all(f.shape == (224, 224, 3) and f.dtype == np.uint8 for _, f in frames)
    assert frames[10][1].std() > 5  # real pictures, not blank buffers


def test_frames_follow_the_moving_pattern(media):
    frames = [f for _, f in iter_frames(media["pattern"], fps=6, size=64)]
    assert len(frames) == 18
    diffs = [np.abs(a.astype(int) - b).mean() for a, b in zip(frames, frames[1:])]
    assert min(diffs) > 1.0


def test_center_crop_of_the_shorter_side(tmp_path):
    # 400x200, left quarter black: scaled to 200x100 then cropped to the middle 100 columns (50..150),
    # so the black band (0..50) is cut off entirely, but a half-black frame keeps its left half black.
    quarter = mf.left_black_video(tmp_path / "quarter.mp4", 400, 200, black_fraction=0.25)
    half = mf.left_black_video(tmp_path / "half.mp4", 400, 200, black_fraction=0.5)
    _, frame = next(iter_frames(quarter, size=100))
    assert frame.min() > 200
    _, frame = next(iter_frames(half, size=100))
    assert frame[:, :45].max() < 30 and frame[:, 55:].min() > 200


def test_anamorphic_pixels_are_scaled_as_displayed(tmp_path):
    # 200x200 stored, shown 400x200 (SAR 2:1): the left quarter falls outside the crop as in 400x200 video.
    stretched = mf.left_black_video(tmp_path / "sar.mp4", 200, 200, black_fraction=0.25, sar="2/1")
    _, frame = next(iter_frames(stretched, size=100))
    assert frame.min() > 200


def test_start_and_max_for_frames(media):
    frames = list(iter_frames(media["long_25s"], size=32, start_s=12.0, max_s=5.0))
    assert len(frames) == 30 and frames[0][0] == pytest.approx(12.0)


def test_segments_of_ten_seconds_keep_a_partial_tail(media):
    segments = list(iter_segments(media["long_25s"], fps=6, size=32))
    assert [s.n_frames for s in segments] == [60, 60, 30]
    assert [(s.start_s, s.end_s) for s in segments] == [(0.0, 10.0), (10.0, 20.0), (20.0, 25.0)]
    assert segments[0].frames.shape == (60, 32, 32, 3) and segments[0].frames.dtype == np.uint8
    assert not np.array_equal(segments[0].frames[0], segments[1].frames[0])


def test_one_frame_video_gives_one_segment_of_one_frame(media):
    segments = list(iter_segments(media["one_frame"], size=32))
    assert len(segments) == 1 and segments[0].frames.shape == (1, 32, 32, 3)
    assert segments[0].frames.std() > 5


def test_audio_only_file_has_no_frames(media):
    with pytest.raises(NoVideoStreamError, match="tone.ogg has no video track"):
        iter_frames(media["tone.ogg"])
    with pytest.raises(NoVideoStreamError):
        iter_segments(media["cover_mp3"])


def test_check_duration(media):
    check_duration(probe(media["pattern"]), 10.0)
    with pytest.raises(MediaTooLongError, match=r"pattern\.mp4 is 0:03 long; the limit is 0:02"):
        check_duration(probe(media["pattern"]), 2.0)


# ---------------------------------------------------------------- hours-long input, never hanging

def test_three_hour_files_probe_instantly_and_stream_only_what_is_asked(three_hours):
    start = time.monotonic()
    audio_info = probe(three_hours["wav"])
    video_info = probe(three_hours["video"])
    assert time.monotonic() - start < 2
    assert audio_info.duration_s == pytest.approx(3 * 3600) and video_info.duration_s == pytest.approx(3 * 3600)
    with pytest.raises(MediaTooLongError, match=r"is 3:00:00 long; the limit is 10:00"):
        check_duration(video_info, 600)

    start = time.monotonic()
    blocks = stream_audio(three_hours["wav"], SR, block_s=30.0, info=audio_info)
    first = next(blocks)
    blocks.close()
    late = load_audio(three_hours["wav"], sr=SR, start_s=2 * 3600, max_s=5.0, info=audio_info)
    frames = list(iter_frames(three_hours["video"], size=32, start_s=2 * 3600, max_s=10.0, info=video_info))
    assert time.monotonic() - start < 5
    assert len(first) == 30 * SR and len(late) == 5 * SR and len(frames) == 60
    assert frames[0][0] == pytest.approx(7200.0)


def test_abandoned_streams_stop_ffmpeg(three_hours, media):
    before = set(child_pids())
    blocks = stream_audio(three_hours["wav"], SR, block_s=1.0)
    next(blocks)
    segments = iter_segments(media["long_25s"], size=32)
    next(segments)
    assert len(set(child_pids()) - before) >= 1
    blocks.close()
    segments.close()
    assert set(child_pids()) - before == set()


def test_read_ahead_gives_the_same_segments_stops_ffmpeg_and_raises_where_the_error_was(media):
    plain = list(iter_segments(media["long_25s"], fps=6, size=32))
    with ReadAhead(iter_segments(media["long_25s"], fps=6, size=32), depth=1) as ahead:
        read = list(ahead)
    assert [s.start_s for s in read] == [s.start_s for s in plain]
    assert all(np.array_equal(a.frames, b.frames) for a, b in zip(read, plain))
    before = set(child_pids())
    ahead = ReadAhead(iter_segments(media["long_25s"], size=32))
    next(ahead)
    ahead.close()  # left early: the thread stops and ffmpeg is killed
    assert set(child_pids()) - before == set() and next(ahead, None) is None

    def failing():
        yield 1
        raise CorruptMediaError("broken.mp4 is damaged")

    ahead = ReadAhead(failing())
    assert next(ahead) == 1
    with pytest.raises(CorruptMediaError, match="broken.mp4"):
        next(ahead)
    with pytest.raises(ValueError, match="depth"):
        ReadAhead(iter([]), depth=0)


def test_a_stalled_decoder_is_killed(media):
    # -re paces the input at real time: one frame per second, so a 0.3 s stall limit trips.
    args = ["-v", "error", "-re", "-f", "lavfi", "-i", "testsrc2=s=16x16:r=1:d=30", "-f", "rawvideo", "pipe:1"]
    start = time.monotonic()
    with FFmpegPipe(args, path_for_errors="paced.mp4", stall_timeout_s=0.3) as pipe:
        with pytest.raises(MediaError, match="paced.mp4: decoding stalled"):
            while pipe.read_exact(16 * 16 * 3 // 2 * 10):
                pass
        assert pipe.proc.poll() is not None
    assert time.monotonic() - start < 5


def test_file_sha256_streams_the_whole_file_and_shortens_on_request(tmp_path):
    import hashlib

    from vml_demo.media.hashing import file_sha256

    path = tmp_path / "blob.bin"
    data = bytes(range(256)) * 5000  # over one read chunk
    path.write_bytes(data)
    assert file_sha256(path) == hashlib.sha256(data).hexdigest()
    assert file_sha256(path, 16) == hashlib.sha256(data).hexdigest()[:16]


def test_write_atomically_leaves_the_old_file_or_the_new_one(tmp_path):
    from vml_demo.media.files import write_atomically

    target = tmp_path / "sub" / "out.txt"
    write_atomically(target, lambda tmp: Path(tmp).write_text("one"))
    assert target.read_text() == "one" and oct(target.stat().st_mode & 0o777) == "0o644"

    def broken(tmp):
        Path(tmp).write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        write_atomically(target, broken)
    assert target.read_text() == "one" and sorted(p.name for p in target.parent.iterdir()) == ["out.txt"]
