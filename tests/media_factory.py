"""Small test media made on the fly with ffmpeg's lavfi sources (tones, bars, moving patterns), plus
deliberately broken files. Every maker writes `path` and returns it; each takes well under a second."""
from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

from vml_demo.media.ffmpeg import ffmpeg_exe

_AUDIO_CODECS = {
    ".wav": ["-c:a", "pcm_s16le"],
    ".flac": ["-c:a", "flac"],
    ".mp3": ["-c:a", "libmp3lame", "-b:a", "96k"],
    ".ogg": ["-c:a", "libvorbis", "-q:a", "2"],
    ".opus": ["-c:a", "libopus", "-b:a", "48k"],
    ".m4a": ["-c:a", "aac", "-b:a", "96k"],
    ".mp4": ["-c:a", "aac", "-b:a", "96k"],
    ".mkv": ["-c:a", "libvorbis"],
}


def ffmpeg(*args: str | Path, timeout_s: float = 60.0) -> None:
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *map(str, args)]
    subprocess.run(cmd, check=True, timeout=timeout_s, stdin=subprocess.DEVNULL, capture_output=True)


def sine_tone(path: Path, duration_s: float = 3.0, freq_hz: float = 440.0, sr: int = 44100,
              amplitude: float = 0.5, stereo: bool = False) -> Path:
    """A pure tone in the format the suffix names (.wav .flac .mp3 .ogg .opus .m4a)."""
    wave = f"{amplitude}*sin(2*PI*{freq_hz}*t)"
    expr = f"{wave}|{wave}" if stereo else wave
    ffmpeg("-f", "lavfi", "-i", f"aevalsrc={expr}:s={sr}:d={duration_s}",
           *_AUDIO_CODECS[Path(path).suffix.lower()], path)
    return Path(path)


def silent_audio(path: Path, duration_s: float = 3.0, sr: int = 44100) -> Path:
    ffmpeg("-f", "lavfi", "-i", f"anullsrc=r={sr}:cl=mono:d={duration_s}",
           *_AUDIO_CODECS[Path(path).suffix.lower()], path)
    return Path(path)


def two_tone(path: Path, first_hz: float = 440.0, second_hz: float = 880.0, switch_s: float = 2.0,
             duration_s: float = 4.0, sr: int = 44100) -> Path:
    """`first_hz` until `switch_s`, then `second_hz`: lets a test see which part was decoded."""
    expr = f"0.5*sin(2*PI*if(lt(t\\,{switch_s})\\,{first_hz}\\,{second_hz})*t)"  # commas escaped for lavfi
    ffmpeg("-f", "lavfi", "-i", f"aevalsrc={expr}:s={sr}:d={duration_s}",
           *_AUDIO_CODECS[Path(path).suffix.lower()], path)
    return Path(path)


def mp3_with_cover_art(path: Path, duration_s: float = 2.0) -> Path:
    """An mp3 whose cover picture ffmpeg lists as a video stream."""
    ffmpeg("-f", "lavfi", "-i", f"sine=frequency=440:d={duration_s}", "-f", "lavfi", "-i", "testsrc2=s=64x64:r=1:d=1",
           "-map", "0", "-map", "1", "-c:a", "libmp3lame", "-c:v", "mjpeg",
           "-disposition:v", "attached_pic", path)
    return Path(path)


def _video_codec(faststart: bool) -> list[str]:
    args = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    return args + (["-movflags", "+faststart"] if faststart else [])


def color_bars_video(path: Path, duration_s: float = 2.0, width: int = 320, height: int = 240,
                     fps: int = 25, faststart: bool = True) -> Path:
    """Silent SMPTE colour bars (a still picture)."""
    ffmpeg("-f", "lavfi", "-i", f"smptebars=s={width}x{height}:r={fps}:d={duration_s}",
           *_video_codec(faststart), path)
    return Path(path)


def dark_still_video(path: Path, duration_s: float = 3.0, width: int = 160, height: int = 120) -> Path:
    """A silent, nearly black, motionless picture: the plainest "dark and calm" input for the video rules."""
    ffmpeg("-f", "lavfi", "-i", f"color=c=0x0a0a14:s={width}x{height}:r=25:d={duration_s}", *_video_codec(True), path)
    return Path(path)


def moving_pattern_video(path: Path, duration_s: float = 3.0, width: int = 320, height: int = 240,
                         fps: int = 25, tone_hz: float | None = None, tone_amplitude: float = 0.5,
                         faststart: bool = True, sar: str | None = None) -> Path:
    """testsrc2 (moving, changes every frame); with `tone_hz` it carries a sine soundtrack.

    `faststart=False` leaves the moov atom at the end, as cameras and plain ffmpeg do; `sar` ("2/1")
    makes anamorphic pixels ("2/1": ffmpeg reads "2:1" as two options).
    """
    args: list[str | Path] = ["-f", "lavfi", "-i", f"testsrc2=s={width}x{height}:r={fps}:d={duration_s}"]
    if tone_hz is not None:
        args += ["-f", "lavfi", "-i", f"aevalsrc={tone_amplitude}*sin(2*PI*{tone_hz}*t):s=44100:d={duration_s}"]
    if sar:
        args += ["-vf", f"setsar={sar}"]
    args += _video_codec(faststart)
    if tone_hz is not None:
        args += _AUDIO_CODECS[".mp4"] + ["-shortest"]
    ffmpeg(*args, path)
    return Path(path)


def video_with_silent_audio(path: Path, duration_s: float = 2.0) -> Path:
    """A video whose audio stream exists but holds digital silence."""
    ffmpeg("-f", "lavfi", "-i", f"testsrc2=s=160x120:r=25:d={duration_s}",
           "-f", "lavfi", "-i", f"anullsrc=r=44100:cl=stereo:d={duration_s}",
           *_video_codec(True), *_AUDIO_CODECS[".mp4"], "-shortest", path)
    return Path(path)


def one_frame_video(path: Path, width: int = 160, height: int = 120) -> Path:
    ffmpeg("-f", "lavfi", "-i", f"testsrc2=s={width}x{height}:r=25", "-frames:v", "1", *_video_codec(True), path)
    return Path(path)


def left_black_video(path: Path, width: int, height: int, black_fraction: float = 0.5,
                     sar: str | None = None, duration_s: float = 1.0) -> Path:
    """White frames whose left `black_fraction` of the stored pixels is black: shows where a crop lands.
    `sar` ("2/1") stretches the pixels on display."""
    vf = f"drawbox=x=0:y=0:w=iw*{black_fraction}:h=ih:color=black:t=fill"
    if sar:
        vf += f",setsar={sar}"
    ffmpeg("-f", "lavfi", "-i", f"color=c=white:s={width}x{height}:r=10:d={duration_s}",
           "-vf", vf, *_video_codec(True), path)
    return Path(path)


def raw_h264_stream(path: Path, duration_s: float = 3.0) -> Path:
    """An elementary .h264 stream: no container, so no duration in any header."""
    ffmpeg("-f", "lavfi", "-i", f"testsrc2=s=160x120:r=25:d={duration_s}", "-c:v", "libx264",
           "-preset", "ultrafast", "-f", "h264", path)
    return Path(path)


def png_image(path: Path) -> Path:
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=64x48", "-frames:v", "1", path)
    return Path(path)


def text_file(path: Path) -> Path:
    """Plain text under whatever name is given (e.g. notes.mp4)."""
    Path(path).write_text("Shopping list\n- milk\n- eggs\nThis is not a video.\n", encoding="utf-8")
    return Path(path)


def zero_length(path: Path) -> Path:
    Path(path).write_bytes(b"")
    return Path(path)


def truncated_copy(src: Path, dst: Path, fraction: float) -> Path:
    """The first `fraction` of `src`'s bytes, as a cut-short download would leave."""
    data = Path(src).read_bytes()
    Path(dst).write_bytes(data[: int(len(data) * fraction)])
    return Path(dst)


def copy_as(src: Path, dst: Path) -> Path:
    shutil.copyfile(src, dst)
    return Path(dst)


def long_silent_wav(path: Path, duration_s: float = 3 * 3600.0, sr: int = 8000) -> Path:
    """A valid hours-long 16-bit mono WAV that takes no disk space: the header is written and the file is
    extended sparsely, so its samples read back as zeros (silence)."""
    n_bytes = int(duration_s * sr) * 2
    header = b"RIFF" + struct.pack("<I", 36 + n_bytes) + b"WAVE"
    header += b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, sr, sr * 2, 2, 16)
    header += b"data" + struct.pack("<I", n_bytes)
    with open(path, "wb") as fh:
        fh.write(header)
        fh.truncate(len(header) + n_bytes)
    return Path(path)


def long_sparse_video(path: Path, duration_s: float = 3 * 3600.0) -> Path:
    """An hours-long but tiny silent video: one 64x64 frame a minute, every frame a keyframe."""
    ffmpeg("-f", "lavfi", "-i", f"color=c=blue:s=64x64:r=1/60:d={duration_s}",
           "-c:v", "libx264", "-preset", "ultrafast", "-g", "1", "-pix_fmt", "yuv420p", path)
    return Path(path)


def shots_video(path: Path, shot_s: list[float], width: int = 160, height: int = 120, fps: int = 25,
                tone_hz: float | None = None) -> Path:
    """Solid-colour shots of the given lengths (a hard cut between each), silent or with a sine soundtrack."""
    colours = ["red", "blue", "yellow", "green", "white", "purple", "orange", "cyan"]
    args: list[str | Path] = []
    for i, d in enumerate(shot_s):
        args += ["-f", "lavfi", "-i", f"color=c={colours[i % len(colours)]}:s={width}x{height}:r={fps}:d={d}"]
    if tone_hz is not None:
        args += ["-f", "lavfi", "-i", f"aevalsrc=0.3*sin(2*PI*{tone_hz}*t):s=44100:d={sum(shot_s)}"]
    graph = "".join(f"[{i}:v]" for i in range(len(shot_s))) + f"concat=n={len(shot_s)}:v=1:a=0[v]"
    args += ["-filter_complex", graph, "-map", "[v]"]
    if tone_hz is not None:
        args += ["-map", f"{len(shot_s)}:a", *_AUDIO_CODECS[".mp4"], "-shortest"]
    ffmpeg(*args, *_video_codec(True), path)
    return Path(path)


def video_with_music(path: Path, music: Path, duration_s: float = 12.0) -> Path:
    """testsrc2 pictures over the first `duration_s` of a music file: a video whose soundtrack is music."""
    ffmpeg("-f", "lavfi", "-i", f"testsrc2=s=160x120:r=25:d={duration_s}", "-i", music, "-t", str(duration_s),
           "-map", "0:v", "-map", "1:a", *_video_codec(True), *_AUDIO_CODECS[".mp4"], "-shortest", path)
    return Path(path)
