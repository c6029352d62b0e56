"""The app's layout and event wiring. Callbacks live in handlers.py; this file only places components.

`build_demo()` returns the Blocks; `launch_options()` the launch arguments that Gradio 6 takes at launch time
(theme, css, what files may be served), shared by app.py and the tests so they run the same app.

What the file route serves (Gradio 6.31, route_utils.file_fetch): `allowed_paths`, plus its own upload folder
and cache. The app serves from `allowed_paths` only the bundled sample videos; excerpts and previews are
made in per-session folders (sessions.py) and Gradio copies what a callback returns into its cache.
`blocked_paths` (which win over everything) cover the index folders, ratings and checkpoints, so
nothing there is ever served, even through a symlink (Gradio resolves links before checking).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from .. import config
from ..settings import get_settings
from .handlers import (ANY, DEFAULT_RESULTS, LICENSE_CHOICES, MAX_RESULTS, PREFER_CHOICES, SLOT_OUTPUTS,
                       VOCALS_CHOICES, Handlers)
from .libraries import BUNDLED, LibraryRegistry
from .previews import DEFAULT_ORIGINAL_DB, EXCERPT_S, PREVIEW_MAX_S

PRESET_CATEGORIES = (("genre", "Genre"), ("mood", "Mood"), ("instrument", "Instrument"))
CONCURRENCY = 2  # searches and previews at once: this runs on 2 CPU cores
CACHE_SWEEP = (1800, 3600)  # every 30 min, delete Gradio cache files older than an hour

INTRO = """# viml-demo: music for your video
Upload a clip (or pick a sample), say what the music should be like and/or click some tags, then **Find music**.
The slider weighs the video against your words (ViML's fusion: 1 = video only, 0 = text only).
Each result plays from its best-matching moment and comes with a preview of your video set to it."""

CSS = """
.result-slot {border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 8px;}
#search-summary {min-height: 2em;}
#preview-status {min-height: 3em;}
"""


@dataclass
class ResultSlot:
    column: gr.Column
    card: gr.Markdown
    audio: gr.Audio
    video: gr.Video
    rated: gr.Markdown
    comment: gr.Textbox
    up: gr.Button
    down: gr.Button
    like: gr.Button
    refine_text: gr.Textbox
    refine: gr.Button

    def outputs(self) -> list:
        return [getattr(self, name) for name in SLOT_OUTPUTS]


def sample_videos() -> list[str]:
    return [str(p) for p in sorted(config.SAMPLE_VIDEOS_DIR.glob("*.mp4"))]


def preset_choices(category: str) -> list[tuple[str, str]]:
    from ..textsynth.vocabulary import load_vocabulary

    vocabulary = load_vocabulary()
    return [(vocabulary.display(t), t) for t in vocabulary.terms(category)]


def _result_slot(i: int) -> ResultSlot:
    with gr.Column(visible=False, elem_classes="result-slot", elem_id=f"result-{i + 1}") as column:
        with gr.Row():
            with gr.Column(scale=3):
                card = gr.Markdown()
                audio = gr.Audio(type="filepath", label=f"{EXCERPT_S:.0f} s from the best-matching moment",
                                 interactive=False, elem_id=f"result-{i + 1}-audio")
                with gr.Row():
                    up = gr.Button("👍 good", size="sm", min_width=80, scale=0, elem_id=f"result-{i + 1}-up")
                    down = gr.Button("👎 poor", size="sm", min_width=80, scale=0, elem_id=f"result-{i + 1}-down")
                    comment = gr.Textbox(show_label=False, placeholder="comment (optional), then rate",
                                         scale=4, max_lines=2)
                rated = gr.Markdown()
                with gr.Row():
                    like = gr.Button("More like this", size="sm", min_width=100, scale=0,
                                     elem_id=f"result-{i + 1}-like")
                    refine_text = gr.Textbox(show_label=False, placeholder="like this but... (e.g. calmer)",
                                             scale=3, max_lines=1, elem_id=f"result-{i + 1}-refine-text")
                    refine = gr.Button("Refine", size="sm", min_width=80, scale=0, elem_id=f"result-{i + 1}-refine")
            with gr.Column(scale=4):
                video = gr.Video(label="Preview", interactive=False, visible=False, buttons=["download"],
                                 elem_id=f"result-{i + 1}-preview")
    return ResultSlot(column, card, audio, video, rated, comment, up, down, like, refine_text, refine)


def build_demo(registry: LibraryRegistry | None = None) -> gr.Blocks:
    registry = registry or LibraryRegistry()
    handlers = Handlers(registry)
    with gr.Blocks(title="viml-demo: music for your video", delete_cache=CACHE_SWEEP) as demo:
        record = gr.State(None)
        gr.Markdown(INTRO)
        with gr.Row():
            with gr.Column(scale=5):
                video = gr.Video(label="Your video", sources=["upload"], height=320, elem_id="query-video")
                gr.Examples(examples=[[p] for p in sample_videos()], inputs=[video], label="Sample videos",
                            examples_per_page=10, cache_examples=False)
            with gr.Column(scale=5):
                text = gr.Textbox(label="Describe the music", lines=2, max_lines=6, elem_id="query-text",
                                  placeholder="e.g. calm acoustic guitar, nostalgic, no drums")
                presets = []
                with gr.Tabs(elem_id="presets"):
                    for cat, label in PRESET_CATEGORIES:
                        with gr.Tab(f"{label} tags", elem_id=f"preset-tab-{cat}"):
                            presets.append(gr.CheckboxGroup(preset_choices(cat), label=f"{label} (added to the "
                                                            "description)", elem_id=f"preset-{cat}"))
                weight = gr.Slider(0.0, 1.0, value=0.5, step=0.05, label="Video ↔ text weight",
                                   info="1 = video only, 0 = text only", elem_id="video-weight")
                with gr.Row():
                    k = gr.Slider(1, MAX_RESULTS, value=DEFAULT_RESULTS, step=1, label="Results",
                                  elem_id="results-count")
                    library = gr.Dropdown(registry.names(), value=BUNDLED, label="Music library",
                                          allow_custom_value=True, elem_id="library")
                with gr.Accordion("Filters, and search like a clip", open=False, elem_id="filters"):
                    with gr.Row():
                        bpm = gr.Textbox("", label="Tempo (BPM)", placeholder="e.g. 90-120", max_lines=1,
                                         elem_id="filter-bpm")
                        vocals = gr.Radio(list(VOCALS_CHOICES), value=ANY, label="Vocals", elem_id="filter-vocals")
                        license_class = gr.Dropdown(list(LICENSE_CHOICES), value=ANY, elem_id="filter-license",
                                                    label="License (this or freer)")
                    with gr.Row():
                        min_duration = gr.Number(label="Min length (s, 0 = any)", value=0, minimum=0,
                                                 elem_id="filter-min-duration")
                        max_duration = gr.Number(label="Max length (s, 0 = any)", value=0, minimum=0,
                                                 elem_id="filter-max-duration")
                        prefer = gr.Radio(list(PREFER_CHOICES), value="auto", elem_id="prefer-instrumental",
                                          label="Prefer instrumental", info="auto: when the video has speech")
                    like_clip = gr.Audio(type="filepath", sources=["upload"], elem_id="like-clip",
                                         label="More like this clip (your words refine it; a video is then "
                                         "only previewed)")
                with gr.Row():
                    keep_original = gr.Checkbox(label="Keep the video's own sound underneath", value=False)
                    original_db = gr.Slider(-40, 0, value=DEFAULT_ORIGINAL_DB, step=1, label="its level (dB)")
                run = gr.Button("Find music", variant="primary", elem_id="run-search")

        summary = gr.Markdown(elem_id="search-summary")
        preview_status = gr.Markdown(elem_id="preview-status")  # the previews' progress shows here, not over them
        exports = gr.File(label="Export bundles: the preview mp4, LICENSE.txt (credit and license), fit.json and an EDL",
                          file_count="multiple", interactive=False, elem_id="exports")
        slots = [_result_slot(i) for i in range(MAX_RESULTS)]
        remix = gr.Button(f"Remake the previews with the sound settings above (they cover the first "
                          f"{PREVIEW_MAX_S:.0f} s of a long video)", size="sm", visible=False)

        gr.Markdown("## The music space")
        colour_by = gr.Radio(["genre", "mood", "instrument"], value="genre", label="Colour tracks by")
        plot = gr.Plot(label="Tracks, your query and its results (2-D PCA of the music space)", elem_id="space-map")

        with gr.Tabs():
            with gr.Tab("Encoders and model"):
                engine_md = gr.Markdown("Loading the library...", elem_id="engine-status")
                with gr.Accordion("Last response (JSON, as the API returns it)", open=False):
                    response_json = gr.JSON(elem_id="response-json")
            with gr.Tab("Ratings"):
                gr.Markdown("Rate results with 👍 / 👎 under each one. Ratings are saved in the library's database "
                            "with the query, the encoders and the ranked list.")
                with gr.Row():
                    # Every session's ratings only where the operator allows it (VML_EXPORT_ALL_RATINGS).
                    scope = gr.Radio(["this session", "all sessions"], value="this session", label="Export",
                                     visible=get_settings().export_all_ratings)
                    export = gr.Button("Export ratings as CSV")
                export_file = gr.File(label="Ratings CSV", interactive=False)
            with gr.Tab("Libraries"):
                gr.Markdown("Index your own music as a new library (or update one), then pick it above. "
                            f"Up to {get_settings().max_uploads} files at a time, {get_settings().max_upload_mb} MB each.")
                new_name = gr.Textbox(label="Library name", placeholder="my-music")
                uploads = gr.File(label="Upload audio files", file_count="multiple", file_types=["audio"],
                                  type="filepath")
                # Server folders only where the operator lists some (VML_INDEX_ROOTS): uploads otherwise.
                roots = get_settings().index_roots
                server_folder = gr.Textbox(label="...or a folder on the server, inside: "
                                           + ", ".join(r.name for r in roots),
                                           placeholder=roots[0].name if roots else "", visible=bool(roots))
                index_btn = gr.Button("Index")
                index_md = gr.Markdown()

        # Search, then (on success) the cards and map, then the previews one by one.
        query_inputs = [library, video, text, *presets, weight, k, bpm, vocals, license_class, min_duration,
                        max_duration, prefer, like_clip]
        searched = gr.on([run.click, text.submit], handlers.search, inputs=query_inputs,
                         outputs=[summary, response_json, record], api_name="search")
        slot_outputs = [c for s in slots for c in s.outputs()]
        preview_inputs = [record, keep_original, original_db]
        preview_outputs = [preview_status, *[s.video for s in slots], exports]

        def then_show(event, api: bool = False):
            """The cards and map, then the previews, after a search event; the API names only for /search's."""
            names = {"results": {"api_name": "results", "api_visibility": "undocumented"},
                     "previews": {"api_name": "previews", "api_visibility": "undocumented"}} if api else \
                {"results": {"api_visibility": "private"}, "previews": {"api_visibility": "private"}}
            shown = event.success(handlers.show_results, inputs=[record, colour_by],
                                  outputs=[plot, remix, preview_status, *slot_outputs], **names["results"])
            shown.success(handlers.make_previews, inputs=preview_inputs, outputs=preview_outputs,
                          show_progress_on=[preview_status], **names["previews"])

        # Callable by API clients too (undocumented), so a client can run the whole chain as a browser does.
        then_show(searched, api=True)
        remix.click(handlers.make_previews, inputs=preview_inputs, outputs=preview_outputs,
                    show_progress_on=[preview_status], api_visibility="private")
        for i, slot in enumerate(slots):  # more like this / refine: the result (and words) become the next query
            for button, refines in ((slot.like, False), (slot.refine, True)):
                triggers = [button.click] + ([slot.refine_text.submit] if refines else [])
                then_show(gr.on(triggers, handlers.like_callback(i, refines), inputs=[slot.refine_text, record, k],
                                outputs=[summary, response_json, record], api_visibility="private"))

        for i, slot in enumerate(slots):
            for button, vote in ((slot.up, 1), (slot.down, -1)):
                button.click(handlers.rating_callback(i, vote), inputs=[slot.comment, record], outputs=[slot.rated],
                             api_name=f"rate_{i + 1}_{'up' if vote > 0 else 'down'}", api_visibility="undocumented")

        colour_by.change(handlers.redraw_map, inputs=[record, library, colour_by], outputs=[plot],
                         api_visibility="private")
        library.change(handlers.select_library, inputs=[library, colour_by], outputs=[engine_md, plot],
                       api_visibility="private")
        export.click(handlers.export_ratings, inputs=[library, scope], outputs=[export_file], api_name="export_ratings")
        index_btn.click(handlers.index_library, inputs=[new_name, server_folder, uploads], outputs=[index_md, library],
                        api_name="index_library", concurrency_limit=1, concurrency_id="indexing")

        demo.load(handlers.on_load, inputs=[library, colour_by], outputs=[engine_md, plot, library],
                  api_visibility="private")
        demo.unload(handlers.on_unload)
    demo.queue(default_concurrency_limit=CONCURRENCY, max_size=64)
    return demo


def blocked_folders(registry: LibraryRegistry | None = None) -> list[str]:
    """What the file route must never serve: indexes and ratings (bundled and UI-made), checkpoints."""
    registry = registry or LibraryRegistry()
    folders = [registry.root, registry.bundled_db, config.ASSETS_DIR / "index", config.CHECKPOINTS_DIR]
    return sorted({str(Path(f).resolve()) for f in folders})


def launch_options(registry: LibraryRegistry | None = None) -> dict:
    """Gradio 6 launch() arguments: look, what the app may (and must not) serve, the upload size limit."""
    return {"theme": gr.themes.Soft(), "css": CSS, "allowed_paths": [str(config.SAMPLE_VIDEOS_DIR.resolve())],
            "blocked_paths": blocked_folders(registry), "max_file_size": f"{get_settings().max_upload_mb}mb"}
