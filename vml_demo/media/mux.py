"""Preview a video with a recommended track: one ffmpeg run to an H.264 + AAC mp4 that browsers play.

The music is cut from `music_start_s` to the video's length, levelled with `loudnorm` (single pass:
dynamic mode, good enough for a preview), faded in and out, and optionally laid over the video's own
sound. A track shorter than the video (from `music_start_s`) is looped with `-stream_loop -1`: the first
pass starts at `music_start_s`, later passes start at the track's beginning. The picture is re-encoded
with x264 `veryfast` and capped at 720 lines so a preview of a short clip takes seconds.

`mux_fitted` muxes a music bed already composed to fit the video (media/bed.py: pieces of the track on a
timeline, looped at bars) with its gain envelope (fades, ducking under speech). The same one ffmpeg graph
levels the bed, multiplies it by the envelope (`amultiply`, after `loudnorm`, whose dynamic gain would
otherwise undo the ducking and the fades), pads it to the video's length and mixes the video's own sound.
"""
from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

from vml_demo.errors import MediaError, NoAudioStreamError, NoVideoStreamError
from vml_demo.media.ffmpeg import display_name, run_ffmpeg, seconds_arg, stderr_tail
from vml_demo.media.probe import MediaInfo, probe

log = logging.getLogger(__name__)

MAX_PREVIEW_HEIGHT = 720
X264_PRESET = "veryfast"
X264_CRF = 23
AAC_BITRATE = "160k"
OUTPUT_SAMPLE_RATE = 48000
TRUE_PEAK_DB = -1.5
LOUDNESS_RANGE = 11.0


def mux_timeout_s(duration_s: float) -> float:
    """Generous wall-clock limit: a preview encodes faster than real time even on 2 busy cores."""
    return 60.0 + 6.0 * duration_s


_VIDEO_CHAIN = f"[0:v:0]scale=w=-2:h='2*trunc(min(ih,{MAX_PREVIEW_HEIGHT})/2)',format=yuv420p[v]"
_TO_STEREO = f"aresample={OUTPUT_SAMPLE_RATE},aformat=sample_fmts=fltp:channel_layouts=stereo"


def _levelled(duration_s: float, loudness_lufs: float) -> str:
    return (f"[1:a:0]atrim=duration={duration_s:.3f},asetpts=PTS-STARTPTS,"
            f"loudnorm=I={loudness_lufs:g}:TP={TRUE_PEAK_DB:g}:LRA={LOUDNESS_RANGE:g},{_TO_STEREO}")


def _with_original(video: str, music: str, keep_original_db: float | None) -> str:
    if keep_original_db is None:
        return f"{video};{music}[aout]"
    original = f"[0:a:0]{_TO_STEREO},volume={keep_original_db:g}dB"
    # normalize=0: amix would otherwise halve both inputs and undo the levelling.
    return f"{video};{music}[music];{original}[orig];[music][orig]amix=inputs=2:duration=first:normalize=0[aout]"


def build_filter_graph(duration_s: float, fade_s: float, loudness_lufs: float,
                       keep_original_db: float | None) -> str:
    """filter_complex for input 0 = video (+ its sound) and input 1 = music; outputs [v] and [aout]."""
    music = _levelled(duration_s, loudness_lufs)
    # Fades come after loudnorm: its dynamic gain would otherwise lift them back up.
    if fade_s > 0:
        music += (f",afade=t=in:st=0:d={fade_s:.3f}"
                  f",afade=t=out:st={max(0.0, duration_s - fade_s):.3f}:d={fade_s:.3f}")
    return _with_original(_VIDEO_CHAIN, music, keep_original_db)


def build_fitted_graph(duration_s: float, loudness_lufs: float, keep_original_db: float | None) -> str:
    """Input 0 = video, 1 = the composed bed, 2 = its gain envelope (mono): levelled, then multiplied."""
    music = (f"{_levelled(duration_s, loudness_lufs)}[lev];[2:a:0]{_TO_STEREO}[gain];"
             f"[lev][gain]amultiply,apad=whole_dur={duration_s:.3f}")
    return _with_original(_VIDEO_CHAIN, music, keep_original_db)


def _plan_music(music: MediaInfo, music_start_s: float, duration_s: float) -> tuple[float, bool]:
    """(start offset within the track, whether to loop it) for `duration_s` seconds of music."""
    start = music_start_s
    if start >= music.duration_s:
        start = start % music.duration_s
        log.warning("%s: music_start_s %.2f is past the track's end (%.2f s); starting at %.2f s",
                    music.name, music_start_s, music.duration_s, start)
    loop = music.duration_s - start < duration_s - 0.01
    if loop:
        log.info("%s: %.1f s of music from %.1f s is shorter than the %.1f s video: looping it",
                 music.name, music.duration_s - start, start, duration_s)
    return start, loop


def _encode(video: MediaInfo, inputs: list[str], graph: str, duration: float, out_path: str | os.PathLike,
            music_name: str) -> None:
    """Run the one ffmpeg graph to `out_path`, atomically: a temporary file renamed into place on success."""
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out_path.stem}.", suffix=".part.mp4", dir=out_path.parent)
    os.close(fd)
    args = ["-v", "error", "-y", "-i", os.fspath(video.path), *inputs,
            "-filter_complex", graph,
            "-map", "[v]", "-map", "[aout]", "-t", seconds_arg(duration),
            "-c:v", "libx264", "-preset", X264_PRESET, "-crf", str(X264_CRF), "-pix_fmt", "yuv420p",
            "-c:a", "aac", "-b:a", AAC_BITRATE, "-ar", str(OUTPUT_SAMPLE_RATE),
            "-movflags", "+faststart", "-f", "mp4", tmp_name]
    try:
        result = run_ffmpeg(args, mux_timeout_s(duration), path_for_errors=video.path)
        if result.returncode != 0 or os.path.getsize(tmp_name) == 0:
            raise MediaError(f"could not make a preview of {video.name} with {music_name}: "
                             f"{stderr_tail(result.stderr)}")
        os.chmod(tmp_name, 0o644)  # mkstemp makes 0600; a served preview should read like any output file
        os.replace(tmp_name, out_path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def video_for_preview(video_path: str | os.PathLike) -> MediaInfo:
    video = probe(video_path)
    if not video.has_video:
        raise NoVideoStreamError(f"{video.name} has no video track to preview")
    return video


def mux_fitted(video_path: str | os.PathLike, bed_wav: str | os.PathLike, envelope_wav: str | os.PathLike,
               out_path: str | os.PathLike, duration_s: float, *, keep_original_db: float | None = None,
               loudness_lufs: float = -16.0) -> Path:
    """The video with a composed music bed (bed.render_bed) levelled and shaped by its envelope; `duration_s`
    long. The video's own sound is mixed in at `keep_original_db` dB when given and present."""
    video = video_for_preview(video_path)
    keep_db = keep_original_db if video.has_audio else None
    _encode(video, ["-i", os.fspath(bed_wav), "-i", os.fspath(envelope_wav)],
            build_fitted_graph(duration_s, loudness_lufs, keep_db), duration_s, out_path, display_name(bed_wav))
    return Path(out_path)


def mux_preview(video_path: str | os.PathLike, music_path: str | os.PathLike, out_path: str | os.PathLike,
                music_start_s: float = 0.0, *, video_duration_s: float | None = None, fade_s: float = 0.5,
                keep_original_db: float | None = None, loudness_lufs: float = -16.0,
                max_s: float | None = None) -> Path:
    """Write `out_path` (mp4: H.264 yuv420p + AAC, faststart) with the music over the video; return it.

    The output lasts as long as the video (or `video_duration_s`, or `max_s` if shorter). The video's own
    sound is mixed in at `keep_original_db` dB when given and present. The file appears atomically: ffmpeg
    writes a temporary file in the same folder, renamed into place only on success.
    """
    if music_start_s < 0:
        raise ValueError(f"music_start_s must be >= 0, got {music_start_s}")
    if fade_s < 0:
        raise ValueError(f"fade_s must be >= 0, got {fade_s}")
    video = video_for_preview(video_path)
    music = probe(music_path)
    if not music.has_audio:
        raise NoAudioStreamError(f"{music.name} has no audio track")

    duration = video.duration_s if video_duration_s is None else min(video_duration_s, video.duration_s)
    if max_s is not None:
        duration = min(duration, max_s)
    if duration <= 0:
        raise ValueError(f"nothing to preview: duration {duration:.2f} s")
    fade = min(fade_s, duration / 2)
    start, loop = _plan_music(music, music_start_s, duration)
    keep_db = keep_original_db if video.has_audio else None
    out_path = Path(out_path)
    inputs = (["-stream_loop", "-1"] if loop else []) + ["-ss", seconds_arg(start), "-i", os.fspath(music.path)]
    _encode(video, inputs, build_filter_graph(duration, fade, loudness_lufs, keep_db), duration, out_path,
            display_name(music.path))
    log.debug("preview %s: %.1f s, music %s from %.1f s%s", out_path.name, duration, music.name, start,
              " (looped)" if loop else "")
    return out_path
