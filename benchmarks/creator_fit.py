"""Music that fits the edit (issue 12): cut alignment, ducking, added time, tempo accuracy. Prints numbers and
writes results/creator_fit.json.

Usage: PYTHONPATH=$PWD python benchmarks/creator_fit.py [--db assets/index] [--k 5] [--random 20] [--quick]

- alignment: for each sample video, its top-k tracks (video search): mean share of cuts within 80 ms of a
  downbeat / a beat at the chosen offset, at the plain best-window offset and at random offsets in the track.
  No fit parameter was tuned on these videos (radius, tolerance and crossfade were set before measuring).
- ducking: a sample video given a synthetic voice (espeak-ng, when installed) at known times, previewed with
  music only; RMS of the output file's audio under speech vs elsewhere (outside the fades), in dB.
- time: rhythm analysis per hour of music (the first call, numba compiling librosa's beat tracker, apart),
  and a fitted preview vs the plain mux of the same video and track.
- tempo: the labelled test set's clips (data/testset, known BPM): share within 4% of the label, and within
  4% of double or half of it, per split.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from vml_demo import config

OUT = config.REPO_ROOT / "results" / "creator_fit.json"
SR = 16000


def load_avg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def alignment_bench(db: str, k: int, n_random: int, rng: np.random.Generator) -> dict:
    from vml_demo import api
    from vml_demo.media.cuts import detect_cuts
    from vml_demo.media.probe import probe
    from vml_demo.search.fit import alignment, plan_fit, timeline

    library = api.load_library(db)
    rows, per_video = [], {}
    for video in sorted(config.SAMPLE_VIDEOS_DIR.glob("*.mp4")):
        cuts = detect_cuts(video)
        duration = probe(video).duration_s
        per_video[video.name] = {"cuts": len(cuts), "duration_s": round(duration, 2)}
        if not len(cuts):
            continue
        for r in library.search(video=video, video_weight=1.0, k=k).results:
            rhythm = library.store.rhythm(r.track_id)
            if rhythm is None or not rhythm.bpm:
                continue
            plan = plan_fit(cuts, rhythm, r.start_s, r.duration_s, duration)
            rand = [alignment(cuts, rhythm, timeline(rhythm, r.duration_s, o, duration)[0])
                    for o in rng.uniform(0.0, max(0.0, r.duration_s - 1.0), n_random)]
            rows.append({"video": video.name, "track": r.file, "bpm": rhythm.bpm,
                         "chosen": [plan.chosen.downbeat_share, plan.chosen.beat_share],
                         "best_window": [plan.plain.downbeat_share, plan.plain.beat_share],
                         "random": [float(np.mean([a.downbeat_share for a in rand])),
                                    float(np.mean([a.beat_share for a in rand]))]})
    mean = {key: {"downbeat": round(float(np.mean([r[key][0] for r in rows])), 4) if rows else None,
                  "beat": round(float(np.mean([r[key][1] for r in rows])), 4) if rows else None}
            for key in ("chosen", "best_window", "random")}
    return {"pairs": len(rows), "videos": per_video, "mean": mean, "rows": rows}


def speech_video(work: Path) -> tuple[Path, list[tuple[float, float]]] | None:
    """underwater.mp4 (no sound of its own) with espeak-ng saying two sentences at 3 s and 11 s."""
    from vml_demo.media.ffmpeg import ffmpeg_exe

    espeak = shutil.which("espeak-ng")
    if not espeak:
        return None
    said = []
    for i, text in enumerate(["Welcome back. Today we dive along the reef and look at the fish.",
                              "Here the water gets deeper, and the light turns blue."]):
        subprocess.run([espeak, "-w", str(work / f"s{i}.wav"), text], check=True, timeout=60)
        said.append(work / f"s{i}.wav")
    starts = [3.0, 11.0]
    video = config.SAMPLE_VIDEOS_DIR / "underwater.mp4"
    graph = ";".join(f"[{i + 1}:a]adelay={int(s * 1000)}:all=1[a{i}]" for i, s in enumerate(starts))
    graph += f";[a0][a1]amix=inputs=2:normalize=0[a]"
    out = work / "speech_video.mp4"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-i", str(video), *sum((["-i", str(p)] for p in said), []),
                    "-filter_complex", graph, "-map", "0:v", "-map", "[a]", "-c:v", "copy", "-c:a", "aac",
                    "-t", "20", str(out)], check=True, timeout=120)
    from vml_demo.media.probe import probe

    return out, [(s, s + probe(p).duration_s) for s, p in zip(starts, said)]


def ducking_bench(library, work: Path) -> dict:
    from vml_demo.media.audio import load_audio
    from vml_demo.search.fitted_preview import make_fitted_preview

    made = speech_video(work)
    if made is None:
        return {"skipped": "espeak-ng is not installed (apt-get install espeak-ng) to give a video a voice"}
    video, said = made
    track = next(t for t in library.tracks.values() if (library.store.rhythm(t.id) or None) and t.duration_s >= 30)
    out = work / "ducked.mp4"
    plan, edit = make_fitted_preview(video, track.abs_path, library.store.rhythm(track.id), 5.0, track.duration_s, out)
    audio = load_audio(out, SR)
    t = np.arange(len(audio)) / SR
    in_speech = np.zeros(len(audio), bool)
    for a, b in edit.speech:
        in_speech |= (t >= a + 0.2) & (t <= b - 0.2)
    around = np.zeros(len(audio), bool)
    for a, b in edit.speech:
        around |= (t >= a - 1.0) & (t <= b + 1.5)  # attack, release
    steady = (t > 1.0) & (t < plan.music_end_s - plan.fade_out_s - 0.2)
    elsewhere = steady & ~around

    def db(mask):
        return float(20 * np.log10(np.sqrt(np.mean(audio[mask] ** 2)) + 1e-12))

    return {"video": "underwater.mp4 + espeak-ng voice", "spoken": said, "speech_found": edit.speech,
            "track": track.name, "music_under_speech_db": round(db(in_speech & steady), 2),
            "music_elsewhere_db": round(db(elsewhere), 2),
            "difference_db": round(db(in_speech & steady) - db(elsewhere), 2)}


def timing_bench(library, n_tracks: int) -> dict:
    from vml_demo.library.indexer import decode_track
    from vml_demo.library.rhythm import analyze_rhythm
    from vml_demo.media.mux import mux_preview
    from vml_demo.search.fitted_preview import make_fitted_preview

    tracks = sorted(library.tracks.values(), key=lambda t: t.id)[: n_tracks + 1]
    first = tracks[0]
    _, blocks = decode_track(first.abs_path)
    t0 = time.perf_counter()
    analyze_rhythm(blocks, first.duration_s)
    first_call_s = time.perf_counter() - t0
    spent, audio_s = 0.0, 0.0
    for t in tracks[1:]:
        duration, blocks = decode_track(t.abs_path)
        t0 = time.perf_counter()
        analyze_rhythm(blocks, duration)
        spent += time.perf_counter() - t0
        audio_s += duration
    video = config.SAMPLE_VIDEOS_DIR / "rocket_launch.mp4"
    work = Path(tempfile.mkdtemp(prefix="vml-fit-"))
    try:
        t0 = time.perf_counter()
        mux_preview(video, first.abs_path, work / "plain.mp4", 10.0)
        plain_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        make_fitted_preview(video, first.abs_path, library.store.rhythm(first.id), 10.0, first.duration_s,
                            work / "fitted.mp4")
        fitted_s = time.perf_counter() - t0
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"first_call_s": round(first_call_s, 2), "tracks": len(tracks) - 1, "audio_s": round(audio_s, 1),
            "rhythm_s": round(spent, 2), "rhythm_s_per_hour": round(spent / audio_s * 3600.0, 1),
            "preview_plain_s": round(plain_s, 2), "preview_fitted_s": round(fitted_s, 2),
            "preview_added_s": round(fitted_s - plain_s, 2), "video": video.name}


def tempo_bench(limit: int) -> dict:
    from vml_demo.library.indexer import decode_track
    from vml_demo.library.rhythm import analyze_rhythm

    folder = config.REPO_ROOT / "data" / "testset"
    clips = json.loads((folder / "labels.json").read_text())["clips"]
    if limit:
        clips = clips[:limit]
    out: dict[str, dict] = {}
    for clip in clips:
        duration, blocks = decode_track(folder / clip["file"])
        bpm = analyze_rhythm(blocks, duration).bpm
        truth = float(clip["bpm"])
        exact = bpm is not None and abs(bpm - truth) <= 0.04 * truth
        octave = bpm is not None and any(abs(bpm - m * truth) <= 0.04 * m * truth for m in (1.0, 2.0, 0.5))
        for split in (clip["split"], "all"):
            s = out.setdefault(split, {"clips": 0, "within_4pct": 0, "within_4pct_or_double_half": 0, "no_tempo": 0})
            s["clips"] += 1
            s["within_4pct"] += int(exact)
            s["within_4pct_or_double_half"] += int(octave)
            s["no_tempo"] += int(bpm is None)
    for s in out.values():
        s["share_within_4pct"] = round(s["within_4pct"] / s["clips"], 4)
        s["share_within_4pct_or_double_half"] = round(s["within_4pct_or_double_half"] / s["clips"], 4)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", default=str(config.ASSETS_DIR / "index"))
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--random", type=int, default=20, help="random offsets per track")
    ap.add_argument("--timing-tracks", type=int, default=20)
    ap.add_argument("--quick", action="store_true", help="fewer tempo clips and timed tracks")
    args = ap.parse_args()
    from vml_demo import api

    report = {"load_average_before": load_avg()}
    started = time.perf_counter()
    report["timing"] = timing_bench(api.load_library(args.db), 5 if args.quick else args.timing_tracks)
    tm = report["timing"]
    print(f"rhythm analysis: first call (numba compiling librosa's beat tracker) {tm['first_call_s']} s; then "
          f"{tm['rhythm_s_per_hour']} s per hour of music ({tm['tracks']} tracks, {tm['audio_s']} s of audio)")
    print(f"preview of {tm['video']}: plain mux {tm['preview_plain_s']} s, fitted {tm['preview_fitted_s']} s "
          f"(+{tm['preview_added_s']} s: cuts, speech, bed, envelope)")
    report["alignment"] = alignment_bench(args.db, args.k, args.random, np.random.default_rng(0))
    m = report["alignment"]["mean"]
    print(f"cut alignment over {report['alignment']['pairs']} (video, track) pairs, share of cuts on a downbeat / beat: "
          f"chosen {m['chosen']['downbeat']} / {m['chosen']['beat']}, best-window {m['best_window']['downbeat']} / "
          f"{m['best_window']['beat']}, random {m['random']['downbeat']} / {m['random']['beat']}")
    work = Path(tempfile.mkdtemp(prefix="vml-duck-"))
    try:
        report["ducking"] = ducking_bench(api.load_library(args.db), work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    d = report["ducking"]
    print("ducking: " + (d["skipped"] if "skipped" in d else
                         f"music under speech {d['music_under_speech_db']} dBFS, elsewhere {d['music_elsewhere_db']} "
                         f"dBFS: {d['difference_db']} dB (measured on the output file)"))
    report["tempo"] = tempo_bench(20 if args.quick else 0)
    for split, s in report["tempo"].items():
        print(f"tempo vs labels ({split}, {s['clips']} clips): within 4% {s['share_within_4pct']}, within 4% or at "
              f"double/half {s['share_within_4pct_or_double_half']}, no tempo {s['no_tempo']}")
    report["load_average_after"] = load_avg()
    report["seconds"] = round(time.perf_counter() - started, 1)
    report["command"] = "PYTHONPATH=$PWD python benchmarks/creator_fit.py" + (" --quick" if args.quick else "")
    print(f"load average before {report['load_average_before']}, after {report['load_average_after']}")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {OUT.relative_to(config.REPO_ROOT)}")


if __name__ == "__main__":
    main()
