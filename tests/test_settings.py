"""The settings object: defaults, parsing, one-line errors, the README table, and no stray environment reads."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from vml_demo import config
from vml_demo.errors import SettingsError, VmlError
from vml_demo.settings import Settings, get_settings, markdown_table

REPO = Path(__file__).resolve().parent.parent


def test_defaults_when_nothing_is_set(monkeypatch):
    monkeypatch.setenv("HOME", "/home/someone")
    s = get_settings({})
    assert s.db_dir == config.ASSETS_DIR / "index" and s.max_video_s == 600.0 and s.query_threads == 1
    assert s.space == "auto" and s.profile == "auto" and s.device == "auto" and not s.allow_download
    assert s.clip_weights is None and s.viml_checkpoint is None and s.text_lm is None and not s.on_hosted_space
    assert (s.server_name, s.server_port, s.log_level) == ("127.0.0.1", 7860, "INFO")
    assert s.libraries_dir == Path("/home/someone/.cache/vml_demo/libraries")
    assert s.hf_hub_dir == Path("/home/someone/.cache/huggingface/hub")


def test_values_are_parsed_and_empty_means_unset():
    s = get_settings({"VML_DB": " /data/idx ", "VML_MAX_VIDEO_S": "90.5", "VML_QUERY_THREADS": "2",
                      "VML_ALLOW_DOWNLOAD": "yes", "VML_PROFILE": "Paper", "VML_DEVICE": "cuda:1",
                      "VML_CLIP_WEIGHTS": "", "SPACE_ID": "user/space", "GRADIO_SERVER_PORT": "8080",
                      "HF_HOME": "/hf", "VML_LOG_LEVEL": "debug"})
    assert s.db_dir == Path("/data/idx") and s.max_video_s == 90.5 and s.query_threads == 2
    assert s.allow_download and s.profile == "paper" and s.device == "cuda:1" and s.clip_weights is None
    assert s.on_hosted_space and s.server_port == 8080 and s.log_level == "DEBUG"
    assert s.hf_hub_dir == Path("/hf/hub")
    assert get_settings({"HF_HUB_CACHE": "/c", "HF_HOME": "/hf"}).hf_hub_dir == Path("/c")


@pytest.mark.parametrize("name,value", [
    ("VML_MAX_VIDEO_S", "ten"), ("VML_MAX_VIDEO_S", "-5"), ("VML_QUERY_THREADS", "0"), ("VML_QUERY_THREADS", "1.5"),
    ("VML_ALLOW_DOWNLOAD", "maybe"), ("VML_PROFILE", "fast"), ("VML_DEVICE", "gpu"), ("GRADIO_SERVER_PORT", "99999"),
    ("VML_LOG_LEVEL", "loud"), ("VML_OWN_MUSIC_WEIGHT", "1.5"), ("VML_OWN_MUSIC_WEIGHT", "half"), ("VML_VIDEO_SCENES", "2"),
])
def test_a_bad_value_is_one_line_naming_the_variable(name, value):
    with pytest.raises(SettingsError) as info:
        get_settings({name: value})
    assert isinstance(info.value, VmlError)
    assert str(info.value).startswith(f"{name}={value!r}") and "\n" not in str(info.value)


def test_settings_are_frozen():
    with pytest.raises(AttributeError):
        get_settings({}).space = "trained"  # type: ignore[misc]


def test_readme_table_is_the_settings_table():
    readme = (REPO / "README.md").read_text()
    start, end = "<!-- settings table: python -m vml_demo.settings -->\n", "\n<!-- end of settings table -->"
    assert start in readme and end in readme, "README lost its settings table markers"
    table = readme.split(start, 1)[1].split(end, 1)[0]
    assert table == markdown_table(), "README's table differs: paste the output of python -m vml_demo.settings"
    assert len(table.splitlines()) == 2 + len(Settings.__dataclass_fields__)


def environment_reads(path: Path) -> list[int]:
    """Lines that read os.environ / os.getenv (a copy for a child process, {**os.environ}, is not a read)."""
    tree = ast.parse(path.read_text())
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr == "getenv":
            lines.append(node.lineno)
        elif isinstance(node, ast.Attribute) and node.attr == "environ":
            parent = parents.get(node)
            if isinstance(parent, ast.Attribute) and parent.attr == "setdefault":
                continue  # a write (offline defaults for libraries)
            if isinstance(parent, ast.Dict):
                continue  # {**os.environ, ...}: the environment handed to a child process
            lines.append(node.lineno)
    return lines


def test_only_settings_reads_the_environment():
    package = REPO / "vml_demo"
    stray = [f"{p.relative_to(REPO)}:{line}" for p in sorted(package.rglob("*.py")) + [REPO / "app.py"]
             if p.name != "settings.py" for line in environment_reads(p)]
    assert not stray, "read environment variables through vml_demo.settings: " + ", ".join(stray)
    assert environment_reads(package / "settings.py"), "the checker must see settings.py's own reads"
