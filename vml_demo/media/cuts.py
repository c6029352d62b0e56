"""Shot cuts of a video, found by PySceneDetect (`scenedetect`): its ContentDetector (HSV frame difference)
with the library's default threshold, read through its OpenCV backend. A cut is the time of the first frame of
a new shot. Frames are downscaled by scenedetect's automatic factor, so a 720p clip reads at a few hundred fps.
"""
from __future__ import annotations

import logging
import os

import numpy as np

from ..errors import MediaError, NoVideoStreamError
from .ffmpeg import display_name

log = logging.getLogger(__name__)

MIN_SHOT_S = 0.5  # a shot shorter than this is a flash, not a cut the music should land on


def detect_cuts(path: str | os.PathLike, *, max_s: float | None = None) -> np.ndarray:
    """Cut times in seconds (ascending; empty for a single shot) of the video at `path`, up to `max_s`."""
    from scenedetect import ContentDetector, SceneManager, open_video
    from scenedetect.backends.opencv import VideoOpenFailure

    try:
        video = open_video(os.fspath(path), backend="opencv")
    except (VideoOpenFailure, OSError) as err:
        raise MediaError(f"{display_name(path)}: shot cuts cannot be read ({err})") from err
    if video.frame_rate <= 0:
        raise NoVideoStreamError(f"{display_name(path)} has no video frames to find cuts in")
    min_frames = max(1, int(round(MIN_SHOT_S * video.frame_rate)))
    manager = SceneManager()
    manager.add_detector(ContentDetector(min_scene_len=min_frames))
    end = None if max_s is None else video.base_timecode + float(max_s)
    manager.detect_scenes(video, end_time=end, show_progress=False)
    scenes = manager.get_scene_list(start_in_scene=True)
    cuts = np.array([start.get_seconds() for start, _ in scenes[1:]], np.float64)
    log.debug("%s: %d cuts", display_name(path), len(cuts))
    return cuts
