#!/usr/bin/env python3
"""Render the labelled synthetic test set (data/testset/) with MMA + FluidSynth.

Every label is exact by construction: the script picks genre (an MMA library groove),
mood (mode + chord progression + dynamics + allowed tempi), tempo (bpm) and the lead
instrument (GM program of the Solo track), writes an .mma file, renders MIDI with `mma`,
audio with `fluidsynth` and encodes Ogg Opus with the imageio-ffmpeg binary.
The instruments actually sounding are read back from the MIDI file, not assumed.

Needs Debian packages: mma fluidsynth fluid-soundfont-gm (apt-get install -y ...).
Usage: python scripts/render_testset.py [--out data/testset] [--per-genre 11] [--seconds 14]
Same seed + same package versions -> same MIDI files (MMA's randomness is seeded too).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import wave
from collections import Counter
from pathlib import Path

import numpy as np

from make_queries import render as render_queries  # scripts/ is on sys.path when run as a script
from split_testset import choose_dev, with_split

REPO = Path(__file__).resolve().parent.parent
DEFAULT_SOURCE = REPO / "data" / "testset" / "queries_source.json"   # the hand-written queries
MMA_LIB = Path("/usr/share/mma/lib")
SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
SEED = 20230617
RATE = 48000
TPQ = 192  # MMA's MIDI ticks per quarter note (used in Solo riffs)

# Genre -> tempo word -> (library file, groove name). Only grooves that were checked to
# play pitched accompaniment, except reggae: the library has only a drum pattern, so a
# skank chord track and a reggae bass line are added on top (see REGGAE_EXTRA).
GENRES: dict[str, dict[str, list[tuple[str, str]]]] = {
    "rock": {"slow": [("stdlib/softrock", "SoftRock"), ("stdlib/rockballad", "RockBallad")],
             "medium": [("stdlib/basicrock", "BasicRock"), ("casio/rock1", "Rock1")],
             "fast": [("stdlib/basicrock", "BasicRock"), ("casio/rock1", "Rock1"), ("stdlib/50srock", "50sRock")]},
    "jazz": {"slow": [("stdlib/mellowjazz", "MellowJazz"), ("stdlib/slowjazz", "SlowJazz")],
             "medium": [("stdlib/swing", "Swing"), ("stdlib/jazzcombo", "JazzCombo")],
             "fast": [("stdlib/fastswing", "FastSwing"), ("stdlib/bebop", "Bebop")]},
    "blues": {"slow": [("stdlib/slowblues", "SlowBlues")],
              "medium": [("stdlib/blues", "Blues"), ("stdlib/blues", "BluesTriple")],
              "fast": [("stdlib/fastblues", "FastBlues")]},
    "country": {"slow": [("stdlib/slowcountry", "SlowCountry")],
                "medium": [("stdlib/countryswing", "CountrySwing"), ("yamaha/western", "WesternMainA")],
                "fast": [("stdlib/bluegrass", "BlueGrass"), ("stdlib/countryswing", "CountrySwing1")]},
    "bossa nova": {t: [("stdlib/bossanova", "BossaNova"), ("yamaha/jazzbossa", "JazzBossaA")]
                   for t in ("slow", "medium")},
    "reggae": {t: [("zoom/reggae", f"REGG0{i}") for i in range(1, 5)] for t in ("slow", "medium")},
    "funk": {t: [("casio/funk1", "Funk1"), ("casio/funk2", "Funk2"), ("kara/Kfunk1", "Kfunk1A"),
                 ("stdlib/bvfunk", "BVFunk")] for t in ("medium", "fast")},
    "disco": {t: [("casio/discosoul", "DiscoSoul"), ("stdlib/boneym", "BoneyM")] for t in ("medium", "fast")},
    "waltz": {"slow": [("stdlib/waltz", "Waltz"), ("stdlib/frenchwaltz", "FrenchWaltz")],
              "medium": [("stdlib/waltz", "Waltz1"), ("stdlib/frenchwaltz", "FrenchWaltz")],
              "fast": [("stdlib/vienesewaltz", "VieneseWaltz")]},
    "march": {t: [("stdlib/march", "March"), ("casio/germanmarch", "GermanMarch"), ("stdlib/bwmarch", "BWMarch")]
              for t in ("medium", "fast")},
    "tango": {t: [("stdlib/tango", "Tango"), ("stdlib/lighttango", "LightTango")] for t in ("slow", "medium")},
    "polka": {t: [("stdlib/polka", "Polka"), ("casio/polka", "Polka")] for t in ("medium", "fast")},
    "salsa": {t: [("stdlib/salsa", "Salsa"), ("yamaha/salsa1", "Salsa1MainA")] for t in ("medium", "fast")},
    "electronic": {t: [("casio/techno", "Techno"), ("casio/house", "House"), ("stdlib/trance", "Trance"),
                       ("casio/trance1", "Trance1")] for t in ("medium", "fast")},
    "hip hop": {t: [("casio/hip-hop", "Hip-Hop"), ("alexis/hiphop", "HipHop")] for t in ("slow", "medium")},
}
REGGAE_EXTRA = """\
Chord-Skank Voice 27
Chord-Skank Octave 5
Chord-Skank Articulate 40
Chord-Skank Sequence {2 8 85; 4 8 85}
Bass-Reggae Voice 33
Bass-Reggae Octave 3
Bass-Reggae Sequence {1 4. 1 95; 2.5 8 5 80; 3 4 1 90; 4.5 8 3 75}
"""

TEMPO_BPM = {"slow": (62, 78), "medium": (96, 118), "fast": (138, 162)}

# Mood = mode + progression family + dynamics + the tempi it may use. Degrees are
# (semitones above the tonic, chord quality in MMA spelling).
MOODS = {
    "happy": {"mode": "major", "tempi": ("medium", "fast"), "volume": "mf", "articulate": 85, "density": 1,
              "progs": [[(0, ""), (7, ""), (9, "m"), (5, "")], [(0, ""), (5, ""), (7, ""), (0, "")],
                        [(0, ""), (9, "m"), (5, ""), (7, "")], [(0, ""), (5, ""), (0, ""), (7, "7")]]},
    "energetic": {"mode": "major", "tempi": ("fast",), "volume": "f", "articulate": 75, "density": 2,
                  "progs": [[(0, ""), (10, ""), (5, ""), (0, "")], [(0, ""), (7, ""), (9, "m"), (5, "")],
                            [(0, ""), (5, ""), (7, ""), (5, "")], [(9, "m"), (5, ""), (0, ""), (7, "")]]},
    "calm": {"mode": "major", "tempi": ("slow",), "volume": "mp", "articulate": 100, "density": 0,
             "progs": [[(0, "maj7"), (5, "maj7"), (0, "maj7"), (5, "maj7")],
                       [(0, "maj7"), (9, "m7"), (2, "m7"), (7, "sus4")],
                       [(0, "sus2"), (5, "maj7"), (9, "m7"), (7, "sus4")],
                       [(0, "add9"), (4, "m7"), (5, "maj7"), (0, "sus2")]]},
    "sad": {"mode": "minor", "tempi": ("slow", "medium"), "volume": "mp", "articulate": 100, "density": 0,
            "progs": [[(0, "m"), (8, ""), (3, ""), (10, "")], [(0, "m"), (5, "m"), (7, "m"), (0, "m")],
                      [(0, "m"), (8, ""), (5, "m"), (7, "7")], [(0, "m7"), (5, "m7"), (8, "maj7"), (7, "7")]]},
    "dark": {"mode": "minor", "tempi": ("slow", "medium", "fast"), "volume": "mf", "articulate": 90, "density": 1,
             "progs": [[(0, "m"), (1, ""), (0, "m"), (7, "7")], [(0, "m"), (8, ""), (2, "m7b5"), (7, "7")],
                       [(0, "m"), (6, "dim"), (1, ""), (7, "")], [(0, "m"), (5, "m"), (1, ""), (0, "m")]]},
}

# Lead instrument label -> (GM program, lowest, highest MIDI note of its melodic range).
LEADS = {
    "piano": (0, 60, 84), "acoustic guitar": (25, 55, 79), "electric guitar": (27, 55, 79),
    "violin": (40, 67, 91), "flute": (73, 72, 93), "saxophone": (65, 61, 82), "trumpet": (56, 60, 82),
    "organ": (16, 60, 84), "synthesizer": (81, 60, 84), "clarinet": (71, 55, 81),
}
# Genre-appropriate program variants inside one label (still the same instrument word).
LEAD_VARIANTS = {("acoustic guitar", g): 24 for g in ("bossa nova", "tango", "salsa", "waltz")}
LEAD_VARIANTS.update({("electric guitar", g): 29 for g in ("rock", "funk", "electronic")})
LEAD_VARIANTS.update({("electric guitar", "jazz"): 26, ("saxophone", "jazz"): 66, ("saxophone", "blues"): 66,
                      ("organ", "rock"): 18, ("organ", "funk"): 18})

NOTE_NAMES = ["C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]
MAJOR_KEYS = [0, 2, 3, 5, 7, 9, 10]       # C D Eb F G A Bb
MINOR_KEYS = [9, 4, 2, 7, 0, 11, 5]       # A E D G C B F
SCALES = {"major": [0, 2, 4, 5, 7, 9, 11], "minor": [0, 2, 3, 5, 7, 8, 10]}
QUALITY = {"": [0, 4, 7], "m": [0, 3, 7], "7": [0, 4, 7, 10], "m7": [0, 3, 7, 10], "maj7": [0, 4, 7, 11],
           "sus2": [0, 2, 7], "sus4": [0, 5, 7], "add9": [0, 4, 7, 2], "dim": [0, 3, 6], "m7b5": [0, 3, 6, 10]}

# Melody rhythm cells (in beats) by density; the last bar of each 4-bar phrase holds longer.
CELLS = {4: {0: [[4], [2, 2], [3, 1], [2, 1, 1], [1, 1, 2]],
             1: [[1, 1, 2], [1, 1, 1, 1], [1.5, 0.5, 2], [2, 1, 1], [0.5, 0.5, 1, 2]],
             2: [[1, 1, 1, 1], [0.5, 0.5, 1, 0.5, 0.5, 1], [1, 0.5, 0.5, 1, 1], [0.5, 0.5, 0.5, 0.5, 2],
                 [1.5, 0.5, 1, 1]]},
         3: {0: [[3], [2, 1], [1, 2]], 1: [[1, 1, 1], [2, 1], [1, 0.5, 0.5, 1]],
             2: [[1, 1, 1], [0.5, 0.5, 1, 1], [0.5, 0.5, 0.5, 0.5, 1]]}}
PHRASE_END = {4: [[2, "r2"], [3, "r1"], [4]], 3: [[2, "r1"], [3]]}

# GM program -> instrument word, for the "instruments" list read back from the MIDI file.
GM_FAMILY = [(0, 3, "piano"), (4, 5, "electric piano"), (6, 6, "harpsichord"), (7, 7, "clavinet"),
             (8, 8, "celesta"), (9, 9, "glockenspiel"), (10, 10, "music box"), (11, 11, "vibraphone"),
             (12, 12, "marimba"), (13, 13, "xylophone"), (14, 14, "bells"), (15, 15, "dulcimer"),
             (16, 20, "organ"), (21, 21, "accordion"), (22, 22, "harmonica"), (23, 23, "accordion"),
             (24, 25, "acoustic guitar"), (26, 31, "electric guitar"), (32, 39, "bass"), (40, 40, "violin"),
             (41, 41, "viola"), (42, 42, "cello"), (43, 43, "double bass"), (44, 45, "strings"),
             (46, 46, "harp"), (47, 47, "timpani"), (48, 51, "strings"), (52, 54, "choir"),
             (55, 55, "orchestra hit"), (56, 56, "trumpet"), (57, 57, "trombone"), (58, 58, "tuba"),
             (59, 59, "trumpet"), (60, 60, "french horn"), (61, 63, "brass"), (64, 67, "saxophone"),
             (68, 68, "oboe"), (69, 69, "english horn"), (70, 70, "bassoon"), (71, 71, "clarinet"),
             (72, 73, "flute"), (74, 74, "recorder"), (75, 75, "pan flute"), (76, 79, "flute"),
             (80, 103, "synthesizer"), (104, 104, "sitar"), (105, 105, "banjo"), (106, 106, "shamisen"),
             (107, 107, "koto"), (108, 108, "kalimba"), (109, 109, "bagpipe"), (110, 110, "fiddle"),
             (111, 111, "shanai"), (112, 119, "percussion"), (120, 127, "sound effects")]


def gm_word(program: int) -> str:
    return next(w for lo, hi, w in GM_FAMILY if lo <= program <= hi)


def midi_instruments(path: Path) -> dict[str, int]:
    """Count note-ons per instrument word in a Standard MIDI File (channel 10 = drums)."""
    data = path.read_bytes()
    pos = 8 + struct.unpack(">I", data[4:8])[0]
    counts: Counter[str] = Counter()

    def vlq(i: int) -> tuple[int, int]:
        value = 0
        while True:
            byte = data[i]
            i += 1
            value = (value << 7) | (byte & 0x7F)
            if not byte & 0x80:
                return value, i

    while pos < len(data):
        end = pos + 8 + struct.unpack(">I", data[pos + 4:pos + 8])[0]
        i, status, program = pos + 8, 0, {}
        while i < end:
            _, i = vlq(i)
            byte = data[i]
            if byte == 0xFF:                      # meta event: type, length, data
                length, i = vlq(i + 2)
                i += length
                continue
            if byte in (0xF0, 0xF7):              # sysex
                length, i = vlq(i + 1)
                i += length
                continue
            if byte & 0x80:                       # otherwise running status
                status = byte
                i += 1
            kind, chan = status & 0xF0, status & 0x0F
            size = 1 if kind in (0xC0, 0xD0) else 2
            args = data[i:i + size]
            i += size
            if kind == 0xC0:
                program[chan] = args[0]
            elif kind == 0x90 and args[1] > 0:
                counts["drums" if chan == 9 else gm_word(program.get(chan, 0))] += 1
        pos = end
    return dict(counts)


def groove_beats(lib_file: str, groove: str) -> int:
    """Beats per bar of a library groove: the last `Time` before its DefGroove."""
    beats = 4
    for line in (MMA_LIB / f"{lib_file}.mma").read_text(errors="replace").splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].lower() == "time":
            beats = int(parts[1].split("/")[0])
        if len(parts) >= 2 and parts[0].lower() == "defgroove" and parts[1].lower() == groove.lower():
            return beats
    raise ValueError(f"groove {groove} not defined in {lib_file}")


def bar_scale(key_pc: int, mode: str, chord_pcs: list[int]) -> list[int]:
    """Key scale with chord tones forced in (e.g. raised 7th on V in minor, b2 on bII)."""
    pcs = {(key_pc + s) % 12 for s in SCALES[mode]}
    for pc in chord_pcs:
        if pc not in pcs:
            pcs -= {(pc - 1) % 12, (pc + 1) % 12}
            pcs.add(pc)
    return sorted(pcs)


def melody_bar(rng: random.Random, beats: int, density: int, phrase_end: bool, prev: int,
               lo: int, hi: int, chord_pcs: list[int], scale: list[int]) -> tuple[str, int]:
    """One bar of Solo riff in MMA notation (durations in ticks, pitches as MIDI numbers)."""
    cells = PHRASE_END[beats] if phrase_end else CELLS[beats][density]
    rhythm = rng.choice(cells)
    pool = [n for n in range(lo, hi + 1) if n % 12 in scale]
    chord_notes = [n for n in pool if n % 12 in chord_pcs]
    centre = (lo + hi) // 2
    items, note = [], prev
    for k, dur in enumerate(rhythm):
        if isinstance(dur, str):                    # a rest, e.g. "r2" = two beats
            items.append(f"{int(float(dur[1:]) * TPQ)}t r")
            continue
        if k == 0 or k == len(rhythm) - 1 or rng.random() < 0.3:
            # strong positions land on a chord tone near the previous note
            near = sorted(chord_notes, key=lambda n: abs(n - note))[:3]
            note = rng.choice(near[:2]) if rng.random() < 0.8 else rng.choice(near)
        else:
            step = rng.choice([1, 1, 1, 2]) * (1 if (note < centre) == (rng.random() < 0.7) else -1)
            idx = min(range(len(pool)), key=lambda j: abs(pool[j] - note)) + step
            note = pool[max(0, min(len(pool) - 1, idx))]
        items.append(f"{int(dur * TPQ)}t {note}")
    return "{" + "; ".join(items) + ";}", note


def chord_name(root_pc: int, quality: str) -> str:
    return NOTE_NAMES[root_pc % 12] + quality


def plan(per_genre: int, rng: random.Random) -> list[dict]:
    """Balanced, seeded assignment of (genre, mood, tempo, lead) under the tempo rules."""
    mood_n, tempo_n, lead_n = Counter(), Counter(), Counter()
    specs = []
    for genre, tempi in GENRES.items():
        g_mood, g_lead = Counter(), Counter()
        pairs = [(m, t) for m, spec in MOODS.items() for t in spec["tempi"] if t in tempi]
        for _ in range(per_genre):
            mood, tempo = min(pairs, key=lambda p: (g_mood[p[0]], mood_n[p[0]], tempo_n[p[1]], rng.random()))
            lead = min(LEADS, key=lambda x: (g_lead[x], lead_n[x], rng.random()))
            for c, k in ((g_mood, mood), (mood_n, mood), (tempo_n, tempo), (g_lead, lead), (lead_n, lead)):
                c[k] += 1
            specs.append({"genre": genre, "mood": mood, "tempo": tempo, "instrument": lead})
    return specs


def write_mma(spec: dict, rng: random.Random, seconds: float) -> tuple[dict[str, str], dict]:
    mood = MOODS[spec["mood"]]
    lib_file, groove = rng.choice(GENRES[spec["genre"]][spec["tempo"]])
    beats = groove_beats(lib_file, groove)
    bpm = rng.randint(*TEMPO_BPM[spec["tempo"]])
    key_pc = rng.choice(MAJOR_KEYS if mood["mode"] == "major" else MINOR_KEYS)
    prog = rng.choice(mood["progs"])
    program, lo, hi = LEADS[spec["instrument"]]
    program = LEAD_VARIANTS.get((spec["instrument"], spec["genre"]), program)
    if spec["mood"] == "dark":                   # darker register, but stay in the instrument's range
        lo, hi = max(lo - 5, LEADS[spec["instrument"]][1] - 5), hi - 5
    bars = int(seconds * bpm / 60 / beats) + 2   # a little more than needed; trimmed later
    head = [f"// {spec}", f"RndSeed {rng.randint(1, 10**6)}", f"Tempo {bpm}"]
    groove_lines = [f"Use {lib_file}", f"Groove {groove}"]
    if spec["genre"] == "reggae":
        groove_lines.append(REGGAE_EXTRA.strip())
    groove_lines.append(f"Volume {mood['volume']}")
    solo_lines = [f"Volume {mood['volume']}", f"Solo Voice {program}", "Solo Volume ff", f"Solo Articulate {mood['articulate']}"]
    chords, riffs, note = [], [], (lo + hi) // 2
    for b in range(bars):
        root, quality = prog[b % len(prog)]
        chord_pcs = sorted({(key_pc + root + i) % 12 for i in QUALITY[quality]})
        riff, note = melody_bar(rng, beats, mood["density"], b % 4 == 3, note, lo, hi, chord_pcs,
                                bar_scale(key_pc, mood["mode"], chord_pcs))
        chords.append(chord_name(key_pc + root, quality))
        riffs.append(riff)
    # Two stems: the groove alone and the lead alone (same chords, so the same bars), mixed
    # later at a fixed level ratio: GM voices differ a lot in loudness (saw lead vs organ).
    acc = head + groove_lines + [f"{b + 1} {c}" for b, c in enumerate(chords)]
    lead = head + solo_lines + [f"{b + 1} {c} {r}" for b, (c, r) in enumerate(zip(chords, riffs))]
    params = {"mma_groove_file": lib_file, "mma_groove": groove, "beats_per_bar": beats, "bars": bars,
              "lead_program": program, "lead_range": [lo, hi], "volume": mood["volume"],
              "articulate": mood["articulate"], "progression": chords[:len(prog)]}
    meta = {"bpm": bpm, "key": f"{NOTE_NAMES[key_pc]} {mood['mode']}", "mode": mood["mode"], "params": params}
    return {"accompaniment": "\n".join(acc) + "\n", "lead": "\n".join(lead) + "\n"}, meta


def run(cmd: list[str], **kw) -> None:
    res = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if res.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed: {res.stderr[-800:]}")


def read_wav(path: Path) -> np.ndarray:
    with wave.open(str(path)) as w:
        assert w.getsampwidth() == 2 and w.getframerate() == RATE
        ch = w.getnchannels()
        x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768
    return x.reshape(-1, ch)


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x ** 2)))


def mix_and_encode(acc_wav: Path, lead_wav: Path, ogg_out: Path, seconds: float, lead_db: float,
                   ffmpeg: str, kbps: int) -> None:
    """Mix the stems with the lead `lead_db` dB above the accompaniment (RMS), trim,
    set the level (RMS -18 dBFS, peak <= -1 dBFS), fade out and encode Ogg Opus."""
    n = int(seconds * RATE)
    acc, lead = read_wav(acc_wav)[:n], read_wav(lead_wav)[:n]
    if min(len(acc), len(lead)) < n - RATE // 10:
        raise RuntimeError(f"render too short: {min(len(acc), len(lead)) / RATE:.1f}s")
    m = min(len(acc), len(lead))
    x = acc[:m] + lead[:m] * (rms(acc) / max(rms(lead), 1e-9) * 10 ** (lead_db / 20))
    x *= min(10 ** (-18 / 20) / max(rms(x), 1e-9), 10 ** (-1 / 20) / max(float(np.abs(x).max()), 1e-9))
    fade = int(0.8 * RATE)
    x[-fade:] *= np.linspace(1, 0, fade)[:, None]
    pcm = (np.clip(x, -1, 1) * 32767).astype("<i2").tobytes()
    subprocess.run([ffmpeg, "-hide_banner", "-loglevel", "error", "-y", "-f", "s16le", "-ar", str(RATE),
                    "-ac", str(x.shape[1]), "-i", "-", "-c:a", "libopus", "-b:a", f"{kbps}k", "-vbr", "constrained",
                    "-map_metadata", "-1", "-fflags", "+bitexact", str(ogg_out)],
                   input=pcm, check=True, capture_output=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO / "data" / "testset")
    ap.add_argument("--per-genre", type=int, default=11)
    ap.add_argument("--seconds", type=float, default=14.0)
    ap.add_argument("--kbps", type=int, default=48)
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--lead-db", type=float, default=3.0, help="lead level above the accompaniment (RMS dB)")
    ap.add_argument("--keep-mma", action="store_true", help="also keep the .mma sources in OUT/mma/")
    args = ap.parse_args()

    for tool in ("mma", "fluidsynth"):
        if not shutil.which(tool):
            sys.exit(f"{tool} not found: apt-get install -y mma fluidsynth fluid-soundfont-gm")
    if not SOUNDFONT.exists():
        sys.exit(f"{SOUNDFONT} missing: apt-get install -y fluid-soundfont-gm")
    import imageio_ffmpeg
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()

    rng = random.Random(args.seed)
    specs = plan(args.per_genre, rng)
    rng.shuffle(specs)                                   # file order carries no label information
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("ts_*.ogg"):
        old.unlink()
    env = dict(os.environ, PYTHONHASHSEED="0")           # MMA is Python: keep its ordering stable
    clips = []
    with tempfile.TemporaryDirectory() as tmp:
        tmpd = Path(tmp)
        for idx, spec in enumerate(specs):
            crng = random.Random(f"{args.seed}-{idx}")
            cid = f"ts_{idx:03d}"
            texts, meta = write_mma(spec, crng, args.seconds + 1.0)
            counts: Counter[str] = Counter()
            wavs = {}
            for stem, text in texts.items():
                mma_path, mid, wavs[stem] = (tmpd / f"{cid}_{stem}{ext}" for ext in (".mma", ".mid", ".wav"))
                mma_path.write_text(text)
                run(["mma", str(mma_path), "-f", str(mid)], env=env)
                run(["fluidsynth", "-ni", "-g", "0.5", "-r", str(RATE), "-O", "s16", "-T", "wav",
                     "-F", str(wavs[stem]), str(SOUNDFONT), str(mid)])
                counts.update(midi_instruments(mid))    # what actually sounds, read from the MIDI
                if args.keep_mma:
                    (out / "mma").mkdir(exist_ok=True)
                    shutil.copy(mma_path, out / "mma" / mma_path.name)
            mix_and_encode(wavs["accompaniment"], wavs["lead"], out / f"{cid}.ogg", args.seconds, args.lead_db,
                           ffmpeg, args.kbps)
            if spec["instrument"] not in counts:
                raise RuntimeError(f"{cid}: lead {spec['instrument']} not found in MIDI {counts}")
            meta["params"]["lead_to_accompaniment_db"] = args.lead_db
            clips.append({"id": cid, "file": f"{cid}.ogg", **spec,
                          "instruments": sorted(counts, key=lambda k: (-counts[k], k)),
                          "instrument_note_counts": dict(counts), "duration_s": args.seconds, **meta})
            print(f"{cid} {spec['genre']:<10} {spec['mood']:<9} {spec['tempo']:<6} {meta['bpm']:>3} "
                  f"{spec['instrument']:<15} {meta['params']['mma_groove']}", flush=True)

    versions = {}
    for pkg in ("mma", "fluidsynth", "fluid-soundfont-gm"):
        res = subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], capture_output=True, text=True)
        versions[pkg] = res.stdout.strip()
    labels = {
        "version": 1,
        "license": "CC0-1.0",
        "categories": {"genre": list(GENRES), "mood": list(MOODS), "instrument": list(LEADS),
                       "tempo": list(TEMPO_BPM)},
        "tempo_bpm": TEMPO_BPM,
        "generator": {"script": "scripts/render_testset.py", "seed": args.seed, "per_genre": args.per_genre,
                      "seconds": args.seconds, "codec": f"opus {args.kbps} kb/s", "sample_rate": RATE,
                      "soundfont": SOUNDFONT.name, "debian_versions": versions},
        "clips": clips,
    }
    # The fixed dev/test split, then the hand-written queries with relevance computed from these labels.
    labels = with_split(labels, choose_dev(clips))
    (out / "labels.json").write_text(json.dumps(labels, indent=1) + "\n")
    source = out / "queries_source.json"
    if not source.exists():
        shutil.copy(DEFAULT_SOURCE, source)
    (out / "queries.json").write_text(render_queries(out))
    queries = json.loads((out / "queries.json").read_text())["queries"]
    size = sum(p.stat().st_size for p in out.glob("ts_*.ogg"))
    print(f"{len(clips)} clips, {len(queries)} queries, {size / 1e6:.2f} MB audio -> {out}")
    for cat in labels["categories"]:
        print(cat, dict(Counter(c[cat] for c in clips)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
